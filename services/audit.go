package services

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditKind names what happened in an audit event.
type AuditKind string

// The audit event kinds: account and security events.
const (
	// AuditLoginFailed: a sign-in was refused (Login holds what was typed,
	// Detail the reason).
	AuditLoginFailed AuditKind = "login_failed"
	// AuditLogin: a user signed in and a session opened.
	AuditLogin AuditKind = "login"
	// AuditLogout: a user signed out of the session.
	AuditLogout AuditKind = "logout"
	// AuditSessionRevoked: a user ended one of their other sessions.
	AuditSessionRevoked AuditKind = "session_revoked"
	// AuditRefreshReuse: a rotated refresh token came back, so the
	// session was revoked (its token was copied).
	AuditRefreshReuse AuditKind = "refresh_reuse"
	// AuditPasswordChanged: a user changed their own password (their
	// other sessions are revoked).
	AuditPasswordChanged AuditKind = "password_changed"
	// AuditPasswordReset: an administrator, or the operator with
	// `huizong admin reset-password`, set someone's password.
	AuditPasswordReset AuditKind = "password_reset"
	// AuditUserCreated: an account was created (one event per account of
	// an import too).
	AuditUserCreated AuditKind = "user_created"
	// AuditRoleChanged: an account's role changed (Detail: from -> to).
	AuditRoleChanged AuditKind = "role_changed"
	// AuditOrgChanged: an account moved to another unit.
	AuditOrgChanged AuditKind = "org_changed"
	// AuditUserDisabled and AuditUserEnabled: an account was disabled
	// (every session revoked) or enabled again.
	AuditUserDisabled AuditKind = "user_disabled"
	AuditUserEnabled  AuditKind = "user_enabled"
	// AuditKeyRotated: a new token signing key was made.
	AuditKeyRotated AuditKind = "signing_key_rotated"
	// AuditTemplateCreated, AuditTemplateUpdated, AuditTemplateCopied:
	// template changes (Detail names the version).
	AuditTemplateCreated AuditKind = "template_created"
	AuditTemplateUpdated AuditKind = "template_updated"
	AuditTemplateCopied  AuditKind = "template_copied"
	// AuditTemplateExtended: a bureau changed its extension of a template.
	AuditTemplateExtended AuditKind = "template_extended"
	// AuditExport: someone exported records or a report (SubjectID the
	// endpoint, SubjectName the file, Detail how many rows).
	AuditExport AuditKind = "export"
)

// AuditKinds lists every kind, for validation and documentation.
var AuditKinds = []AuditKind{
	AuditLoginFailed, AuditLogin, AuditLogout, AuditSessionRevoked, AuditRefreshReuse,
	AuditPasswordChanged, AuditPasswordReset, AuditUserCreated, AuditRoleChanged, AuditOrgChanged,
	AuditUserDisabled, AuditUserEnabled, AuditKeyRotated,
	AuditTemplateCreated, AuditTemplateUpdated, AuditTemplateCopied, AuditTemplateExtended, AuditExport,
}

// Valid reports whether k is a known kind.
func (k AuditKind) Valid() bool {
	for _, x := range AuditKinds {
		if x == k {
			return true
		}
	}
	return false
}

// AuditEvent is one entry of the audit log. Events are never changed.
type AuditEvent struct {
	// ID sorts by time (NewID).
	ID   string
	At   time.Time
	Kind AuditKind
	// ActorID is who did it ("" when nobody signed in, as on a failed
	// sign-in, or the operator on the command line); ActorName is their
	// username, or "operator".
	ActorID   string
	ActorName string
	// Login is the login typed on a sign-in attempt.
	Login string
	// IP and UserAgent describe the client, when there was one.
	IP        string
	UserAgent string
	// SubjectType ("user", "session", "template", "signing_key") and
	// SubjectID name what the event is about; SubjectName is a readable
	// name of it (a username, a template's Chinese name).
	SubjectType string
	SubjectID   string
	SubjectName string
	// OrgPath is the path of the unit the event belongs to (the subject
	// user's unit, the template's owner): it scopes the event, so a
	// district administrator reads the events of their district. Events
	// of no unit (unknown logins, built-in templates, signing keys) are
	// for system administrators only.
	OrgPath []string
	// Detail says more, in a few words ("wrong_password", "teacher ->
	// principal", "v3").
	Detail string
}

// AuditQuery selects audit events, newest first (ID descending, keyset
// on ID < Page.After); empty fields mean any.
type AuditQuery struct {
	Kinds   []AuditKind
	ActorID string
	// SubjectID matches the event's subject.
	SubjectID string
	// From and To bound At (From included, To excluded); zero means open.
	From time.Time
	To   time.Time
	Page Page
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// AppendAudit stores events (at most MaxAuditBatch) in one write;
	// ErrConflict if an id exists.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// AuditEvents lists the events inside s that match q, newest first.
	// An event is inside s when s is ScopeAll or its OrgPath contains
	// s.OrgID.
	AuditEvents(ctx context.Context, s Scope, q AuditQuery) ([]AuditEvent, error)
}

// Limits on what an event keeps.
const (
	// MaxAuditBatch is how many events one AppendAudit stores (an import
	// of MaxImportRows accounts records one per account).
	MaxAuditBatch = 1000

	maxAuditText  = 256
	maxAuditKinds = 20
	auditOperator = "operator"
)

// ClientInfo describes the client of a request, for the audit log.
type ClientInfo struct {
	IP        string
	UserAgent string
}

type clientKey struct{}

// WithClient returns ctx carrying the client of the request.
func WithClient(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// clientOf returns the client ctx carries, if any.
func clientOf(ctx context.Context) ClientInfo {
	c, _ := ctx.Value(clientKey{}).(ClientInfo)
	return c
}

// Audit writes and reads the audit log. A nil *Audit records nothing,
// so tools and tests that do not care need not build one.
type Audit struct {
	store AuditStore
	now   Clock
	log   *slog.Logger
	ids   idSequence
}

// NewAudit returns an Audit writing to store; log (may be nil) gets the
// events that could not be stored.
func NewAudit(store AuditStore, now Clock, log *slog.Logger) *Audit {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Audit{store: store, now: now, log: log}
}

// auditBy starts an event done by the caller p.
func auditBy(p Principal, kind AuditKind) AuditEvent {
	return AuditEvent{Kind: kind, ActorID: p.User.ID, ActorName: p.User.Username}
}

// aboutUser makes u the subject of e (and its unit e's scope).
func (e AuditEvent) aboutUser(u User) AuditEvent {
	e.SubjectType, e.SubjectID, e.SubjectName, e.OrgPath = "user", u.ID, u.Username, u.OrgPath
	return e
}

// Record stores events, filling their ids, time and client from ctx.
// The actions they describe have already happened, so a failure to store
// them does not undo those: each is logged instead, where an operator's
// log collection keeps it.
func (a *Audit) Record(ctx context.Context, events ...AuditEvent) {
	if a == nil || len(events) == 0 {
		return
	}
	at := a.now().UTC()
	c := clientOf(ctx)
	for i := range events {
		e := &events[i]
		e.At, e.ID = at, a.ids.next(at)
		if e.IP == "" && e.UserAgent == "" {
			e.IP, e.UserAgent = c.IP, c.UserAgent
		}
		for _, s := range []*string{&e.ActorName, &e.Login, &e.IP, &e.UserAgent, &e.SubjectName, &e.Detail} {
			*s = truncateRunes(strings.ToValidUTF8(*s, "\uFFFD"), maxAuditText)
		}
	}
	// The events outlive the request that caused them (a client that
	// hangs up right after a sign-in must not erase its trace).
	ctx = context.WithoutCancel(ctx)
	for start := 0; start < len(events); start += MaxAuditBatch {
		chunk := events[start:min(start+MaxAuditBatch, len(events))]
		if err := a.store.AppendAudit(ctx, chunk); err != nil {
			for _, e := range chunk {
				a.log.ErrorContext(ctx, "audit event not stored", "err", err, "kind", e.Kind, "actor", e.ActorID,
					"login", e.Login, "ip", e.IP, "subject", e.SubjectID, "detail", e.Detail)
			}
		}
	}
}

// List returns a page of the events the caller may read: a system
// administrator every event, a city or district administrator those of
// their unit's subtree.
func (a *Audit) List(ctx context.Context, p Principal, q AuditQuery) ([]AuditEvent, error) {
	const op = "audit.list"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return nil, Fail(op, KindForbidden, "forbidden", nil)
	}
	var v Validation
	if len(q.Kinds) > maxAuditKinds {
		v.Add("kind", "too_many", "max", maxAuditKinds)
	}
	for _, k := range q.Kinds {
		if !k.Valid() {
			v.Add("kind", "enum", "options", auditKindList())
			break
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		v.Add("to", "before_start")
	}
	if len(q.Page.After) > 64 || !utf8.ValidString(q.Page.After) {
		v.Add("cursor", "cursor")
	}
	if fe := v.Fields(); len(fe) > 0 {
		// These are query parameters: a malformed request, not a form.
		return nil, &Error{Op: op, Kind: KindBadRequest, Code: "bad_request", Fields: fe}
	}
	q.Page = q.Page.Normalize()
	events, err := a.store.AuditEvents(ctx, p.Scope(), q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return events, nil
}

func auditKindList() string {
	s := make([]string, len(AuditKinds))
	for i, k := range AuditKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
