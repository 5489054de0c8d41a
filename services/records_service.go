package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Records runs record submission and review: who may write, see, change
// and review which records, and what a valid record is.
type Records struct {
	store       RecordStore
	templates   TemplateStore
	orgs        OrgStore
	attachments AttachmentStore
	// users names authors, reviewers and actors; nil when the record
	// store keeps no users (names are then left out).
	users UserStore
	// exts merges bureaus' extensions into templates (nil: none).
	exts ExtensionStore
	now  Clock
	loc  *time.Location
}

// NewRecords returns the record service. Dates ("today", the future) are
// judged in loc.
func NewRecords(store RecordStore, templates TemplateStore, orgs OrgStore, attachments AttachmentStore, now Clock, loc *time.Location) *Records {
	if loc == nil {
		loc = time.UTC
	}
	users, _ := store.(UserStore) // both stores keep users beside records
	exts, _ := templates.(ExtensionStore)
	return &Records{store: store, templates: templates, orgs: orgs, attachments: attachments, users: users, exts: exts,
		now: now, loc: loc}
}

// UserNames returns the names of the users ids that lie inside p's scope,
// reading each distinct id once; ids outside the scope, unknown or ""
// are left out, so no name leaks beyond what p may see.
func (s *Records) UserNames(ctx context.Context, p Principal, ids ...string) (map[string]string, error) {
	out := map[string]string{}
	if s.users == nil {
		return out, nil
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if id == p.User.ID {
			out[id] = p.User.Name
			continue
		}
		u, err := s.users.User(ctx, p.Scope(), id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("records.names: %w", err)
		}
		out[id] = u.Name
	}
	return out, nil
}

// RecordScope is what p may see of records and attachments: a teacher only
// their own, everyone else their subtree.
func (p Principal) RecordScope() Scope {
	s := p.Scope()
	if p.User.Role == RoleTeacher {
		s.AuthorID = p.User.ID
	}
	return s
}

// RecordInput is a new record as a client sends it.
type RecordInput struct {
	// ClientID is the UUID the phone made for the record; one is made
	// when it is empty (then only Idempotency-Key protects retries).
	ClientID    string
	Template    string
	OrgID       string
	OccurredOn  string
	EndOn       string
	Title       string
	Description string
	Data        json.RawMessage
	// Status is draft or submitted (the default).
	Status string
}

// RecordPatch is an edit; nil leaves a field as it is. Data is merged
// key by key into the stored data, and a null value removes a key.
type RecordPatch struct {
	OccurredOn  *string
	EndOn       *string
	Title       *string
	Description *string
	Data        json.RawMessage
}

// BatchStatus says what became of one record of a batch.
type BatchStatus string

// The outcomes of a batch item.
const (
	BatchCreated   BatchStatus = "created"
	BatchDuplicate BatchStatus = "duplicate"
	BatchInvalid   BatchStatus = "invalid"
)

// BatchResult is the outcome for one record of a batch.
type BatchResult struct {
	ClientID string
	Status   BatchStatus
	Record   Record
	Errors   []FieldError
}

// Review actions.
const (
	ActionCreate   = "create"
	ActionEdit     = "edit"
	ActionSubmit   = "submit"
	ActionApprove  = "approve"
	ActionReturn   = "return"
	ActionReopen   = "reopen"
	ActionWithdraw = "withdraw"
)

const (
	maxComment = 1000
	dateLayout = "2006-01-02"
	minDate    = "2000-01-01"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (s *Records) today() string { return s.now().In(s.loc).Format(dateLayout) }

// Create stores a new record, or finds the one an earlier attempt with
// the same client id stored: created is false then. The same client id
// with different content is a conflict.
func (s *Records) Create(ctx context.Context, p Principal, in RecordInput) (r Record, created bool, err error) {
	const op = "records.create"
	in.ClientID = strings.ToLower(strings.TrimSpace(in.ClientID))
	var v Validation
	switch {
	case in.ClientID == "":
		in.ClientID = newUUID()
	case !uuidPattern.MatchString(in.ClientID):
		v.Add("client_id", "format")
		return Record{}, false, v.Err(op)
	}
	hash := inputHash(in)
	r, err = s.build(ctx, p, in, &v)
	if err != nil {
		return Record{}, false, fmt.Errorf("%s: %w", op, err)
	}
	if verr := v.Err(op); verr != nil {
		// A retry of a record that was stored before its template changed
		// must still find the first record, not fail validation.
		if prev, ok, err := s.previous(ctx, p, in.ClientID, hash, r.OrgPath); err != nil || ok {
			return prev, false, err
		}
		return Record{}, false, verr
	}
	now := s.now().UTC()
	r.ID = NewID(now)
	r.ClientID = in.ClientID
	r.Hash = hash
	r.Version = 1
	r.CreatedAt, r.UpdatedAt = now, now
	if r.Status == StatusSubmitted {
		r.SubmittedAt = now
	}
	if r, err = s.withRollup(ctx, r); err != nil {
		return Record{}, false, fmt.Errorf("%s: %w", op, err)
	}
	ev := RecordEvent{ID: NewID(now), RecordID: r.ID, Version: 1, At: now, ActorID: p.User.ID,
		ActorRole: p.User.Role, Action: ActionCreate}
	err = s.store.CreateRecord(ctx, r, ev)
	if errors.Is(err, ErrConflict) {
		prev, ok, perr := s.previous(ctx, p, in.ClientID, hash, r.OrgPath)
		if perr != nil || ok {
			return prev, false, perr
		}
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return r, true, nil
}

// previous finds the record p created with clientID for the org at path
// (when build got that far): ok when it exists and holds the same
// content, a conflict when it holds other content.
func (s *Records) previous(ctx context.Context, p Principal, clientID, hash string, path []string) (Record, bool, error) {
	const op = "records.create"
	sc := p.RecordScope()
	if sc.District == "" {
		// A city-level author: the record's own district routes the read.
		sc.District = DistrictOf(path)
	}
	r, err := s.store.RecordByClientID(ctx, sc, p.User.ID, clientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("%s: %w", op, err)
	case r.Hash != hash:
		return Record{}, false, &Error{Op: op, Kind: KindConflict, Code: "client_id_reused",
			Fields: []FieldError{Field("client_id", "reused")}}
	}
	return r, true, nil
}

// build validates in and returns the record it describes, without ids and
// times. Field errors go to v; err is for store failures.
func (s *Records) build(ctx context.Context, p Principal, in RecordInput, v *Validation) (Record, error) {
	r := Record{Template: strings.TrimSpace(in.Template), AuthorID: p.User.ID, AuthorRole: p.User.Role}
	switch in.Status {
	case "", string(StatusSubmitted):
		r.Status = StatusSubmitted
	case string(StatusDraft):
		r.Status = StatusDraft
	default:
		v.Add("status", "enum", "options", "draft, submitted")
	}
	orgID := strings.TrimSpace(in.OrgID)
	if orgID == "" {
		orgID = p.User.OrgID
	}
	var org Org
	if orgID == "" {
		v.Add("org_id", "required")
	} else {
		o, err := s.orgs.Org(ctx, p.Scope(), orgID)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add("org_id", "not_found")
		case err != nil:
			return Record{}, err
		default:
			org = o
			r.OrgID, r.OrgPath = o.ID, o.Path
		}
	}
	var tmpl Template
	if r.Template == "" {
		v.Add("template", "required")
	} else {
		t, err := s.templates.Template(ctx, ViewOf(p), r.Template)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add("template", "not_found")
		case err != nil:
			return Record{}, err
		case !t.Active:
			v.Add("template", "inactive")
		case org.ID != "" && !usableFor(t, org):
			v.Add("template", "not_applicable")
		default:
			tmpl = t
			r.TemplateVersion = t.Version
		}
	}
	r.OccurredOn, r.EndOn = strings.TrimSpace(in.OccurredOn), strings.TrimSpace(in.EndOn)
	r.Title, r.Description = CleanText(in.Title), CleanText(in.Description)
	s.checkStandard(v, r)
	if tmpl.Key != "" && org.ID != "" {
		// The unit's bureaus may have added options and fields.
		t, refs, err := extended(ctx, s.exts, tmpl, org)
		if err != nil {
			return Record{}, err
		}
		tmpl, r.Extensions = t, refs
		if err := s.checkData(ctx, p, v, tmpl, org, in.Data, &r); err != nil {
			return Record{}, err
		}
	}
	return r, nil
}

// checkStandard validates the fields every record has.
func (s *Records) checkStandard(v *Validation, r Record) {
	today := s.today()
	checkDate(v, "occurred_on", r.OccurredOn, true, today)
	if r.EndOn != "" {
		checkDate(v, "end_on", r.EndOn, false, today)
		if validDate(r.OccurredOn) && validDate(r.EndOn) && r.EndOn < r.OccurredOn {
			v.Add("end_on", "before_start")
		}
	}
	checkText(v, "title", r.Title, true, MaxTitleLength)
	switch {
	case utf8.RuneCountInString(r.Description) > MaxDescription:
		v.Add("description", "max_length", "max", MaxDescription)
	case strings.ContainsFunc(r.Description, func(c rune) bool { return unicode.IsControl(c) && c != '\n' && c != '\t' && c != '\r' }):
		v.Add("description", "format")
	}
}

func validDate(s string) bool {
	_, err := time.Parse(dateLayout, s)
	return err == nil && len(s) == len(dateLayout)
}

func checkDate(v *Validation, field, s string, required bool, today string) {
	switch {
	case s == "":
		if required {
			v.Add(field, "required")
		}
	case !validDate(s):
		v.Add(field, "date")
	case s < minDate:
		v.Add(field, "min_date", "min", minDate)
	case s > today:
		v.Add(field, "future", "max", today)
	}
}

// checkData validates data against t and fills r's data, attachments and
// warnings.
func (s *Records) checkData(ctx context.Context, p Principal, v *Validation, t Template, org Org, data json.RawMessage, r *Record) error {
	clean, atts, warnings, errs := CheckRecordData(t, data, org, s.today())
	for _, fe := range errs {
		if fe.Code == "key" {
			// Keys shaped like query operators or paths: refused as
			// malformed, whatever else is wrong.
			return &Error{Op: "records.data", Kind: KindBadRequest, Code: "bad_request", Fields: []FieldError{fe}}
		}
	}
	if len(errs) > 0 {
		v.fields = append(v.fields, errs...)
		return nil
	}
	for _, id := range atts {
		_, err := s.attachments.Attachment(ctx, Scope{OrgID: p.Scope().OrgID, All: p.Scope().All, AuthorID: p.User.ID}, id)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add("data."+attachmentField(t, clean, id), "attachment_not_found", "id", id)
			continue
		case err != nil:
			return err
		}
	}
	if err := s.checkPeople(ctx, v, t, org, clean); err != nil {
		return err
	}
	r.Data, r.Attachments, r.Warnings = clean, atts, warnings
	return nil
}

// checkPeople checks that every person in a people field of data is on
// the staff (a teacher or principal) of org or a school below it.
func (s *Records) checkPeople(ctx context.Context, v *Validation, t Template, org Org, data json.RawMessage) error {
	var m map[string]any
	for _, f := range t.Fields {
		if f.Type != FieldPeople {
			continue
		}
		if m == nil {
			var err error
			if m, err = DecodeRecordData(data); err != nil {
				return err
			}
		}
		ids, _ := m[f.Key].([]any)
		for i, x := range ids {
			id, _ := x.(string)
			u, err := s.staffMember(ctx, org, id)
			if err != nil {
				return err
			}
			if u.ID == "" {
				v.Add(fmt.Sprintf("data.%s[%d]", f.Key, i), "not_staff", "id", id)
			}
		}
	}
	return nil
}

// staffMember returns the account id when it is a teacher or principal
// of org's subtree, else the zero User.
func (s *Records) staffMember(ctx context.Context, org Org, id string) (User, error) {
	if s.users == nil {
		return User{}, errors.New("records: no user store to check people fields")
	}
	u, err := s.users.User(ctx, ScopeOrg(org.ID), id)
	switch {
	case errors.Is(err, ErrNotFound):
		return User{}, nil
	case err != nil:
		return User{}, err
	case u.Role != RoleTeacher && u.Role != RolePrincipal:
		return User{}, nil
	}
	return u, nil
}

// attachmentField names the field of data that holds attachment id.
func attachmentField(t Template, data json.RawMessage, id string) string {
	m, err := DecodeRecordData(data)
	if err != nil {
		return "attachments"
	}
	for _, f := range t.Fields {
		if f.Type != FieldAttachments {
			continue
		}
		if ids, ok := m[f.Key].([]any); ok && slices.Contains(ids, any(id)) {
			return f.Key
		}
	}
	return "attachments"
}

// CreateBatch stores records a phone queued offline. Each is created,
// found as a duplicate of an earlier attempt, or rejected with its field
// errors; one bad record never holds up the others. Only a store failure
// stops the batch (records stored before it are found as duplicates when
// the phone retries).
func (s *Records) CreateBatch(ctx context.Context, p Principal, ins []RecordInput) ([]BatchResult, error) {
	const op = "records.batch"
	if len(ins) == 0 {
		return nil, Invalid(op, Field("records", "required"))
	}
	if len(ins) > MaxBatchRecords {
		return nil, Invalid(op, Field("records", "too_many", "max", MaxBatchRecords))
	}
	out := make([]BatchResult, len(ins))
	// The records are stored concurrently, so the store's group commit
	// makes a few commits of the batch instead of one per record (at
	// synchronous=FULL each is an fsync). A client id repeated in the
	// batch waits for its first occurrence: that one is created, the
	// repeats are duplicates, as if they had been sent one by one.
	first := map[string]bool{}
	var now, later []int
	for i, in := range ins {
		key := strings.ToLower(strings.TrimSpace(in.ClientID))
		if key != "" && first[key] {
			later = append(later, i)
			continue
		}
		first[key] = true
		now = append(now, i)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		sem  = make(chan struct{}, batchWorkers)
	)
	one := func(i int) {
		res, err := s.batchItem(ctx, p, ins[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if ferr == nil {
				ferr = fmt.Errorf("%s: item %d: %w", op, i, err)
			}
			return
		}
		out[i] = res
	}
	for _, i := range now {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			one(i)
		}()
	}
	wg.Wait()
	for _, i := range later {
		one(i)
	}
	if ferr != nil {
		return nil, ferr
	}
	return out, nil
}

// batchWorkers is how many records of one batch are stored at once.
const batchWorkers = 16

// batchItem creates one record of a batch; err is for what fails the
// whole batch (the store), not for what the record itself gets wrong.
func (s *Records) batchItem(ctx context.Context, p Principal, in RecordInput) (BatchResult, error) {
	res := BatchResult{ClientID: in.ClientID}
	if strings.TrimSpace(in.ClientID) == "" {
		res.Status, res.Errors = BatchInvalid, []FieldError{Field("client_id", "required")}
		return res, nil
	}
	r, created, err := s.Create(ctx, p, in)
	var se *Error
	switch {
	case err == nil && created:
		res.Status, res.Record = BatchCreated, r
	case err == nil:
		res.Status, res.Record = BatchDuplicate, r
	case errors.As(err, &se) && (se.Kind == KindInvalid || se.Kind == KindConflict || se.Kind == KindForbidden):
		res.Status, res.Errors = BatchInvalid, se.Fields
		if len(res.Errors) == 0 {
			res.Errors = []FieldError{Field("", se.Code)}
		}
	default:
		return BatchResult{}, err
	}
	res.ClientID = strings.ToLower(strings.TrimSpace(in.ClientID))
	return res, nil
}

// Get returns a record the caller can see. Withdrawn records are gone for
// everyone but their history.
func (s *Records) Get(ctx context.Context, p Principal, id string) (Record, error) {
	r, err := s.store.Record(ctx, p.RecordScope(), id)
	if err == nil && r.Status == StatusWithdrawn {
		err = ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("records.get: %w", err)
	}
	return r, nil
}

// List returns one page of the records the caller can see.
func (s *Records) List(ctx context.Context, p Principal, q RecordQuery) ([]Record, error) {
	const op = "records.list"
	if err := CheckQuery(op, q); err != nil {
		return nil, err
	}
	q.Limit = Page{Limit: q.Limit}.Normalize().Limit
	rs, err := s.store.Records(ctx, p.RecordScope(), q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return rs, nil
}

// CheckQuery checks the filters of a record query (statuses, data keys,
// dates), the same for the list and everything that reads records like it.
func CheckQuery(op string, q RecordQuery) error {
	var v Validation
	if q.Status != "" && !q.Status.Valid() {
		v.Add("status", "enum", "options", "draft, submitted, approved, returned, withdrawn")
	}
	for i, st := range q.Statuses {
		if !st.Valid() || st == StatusWithdrawn {
			v.Add(fmt.Sprintf("status[%d]", i), "enum", "options", "draft, submitted, approved, returned")
		}
	}
	if len(q.Data) > maxDataFilters {
		v.Add("data", "too_many", "max", maxDataFilters)
	}
	for k, val := range q.Data {
		if !keyPattern.MatchString(k) || len(k) > 64 {
			v.Add("data."+safeKey(k), "format")
		} else if utf8.RuneCountInString(val) > 100 {
			v.Add("data."+k, "max_length", "max", 100)
		}
	}
	for _, d := range []struct{ name, val string }{{"from", q.From}, {"to", q.To}} {
		if d.val != "" && !validDate(d.val) {
			v.Add(d.name, "date")
		}
	}
	if q.From != "" && q.To != "" && q.To < q.From {
		v.Add("to", "before_start")
	}
	return v.Err(op)
}

// History returns one page of a record's audit history.
func (s *Records) History(ctx context.Context, p Principal, id string, afterVersion int64, limit int) ([]RecordEvent, error) {
	evs, err := s.store.RecordHistory(ctx, p.RecordScope(), id, afterVersion, Page{Limit: limit}.Normalize().Limit)
	if err != nil {
		return nil, fmt.Errorf("records.history: %w", err)
	}
	return evs, nil
}

// load reads the record id at version for a change by p.
func (s *Records) load(ctx context.Context, op string, p Principal, id string, version int64) (Record, error) {
	r, err := s.store.Record(ctx, p.RecordScope(), id)
	if err == nil && r.Status == StatusWithdrawn {
		err = ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.Version != version {
		return Record{}, fmt.Errorf("%s: %w", op, ErrStale)
	}
	return r, nil
}

func transitionErr(op string, r Record) error {
	return &Error{Op: op, Kind: KindConflict, Code: "invalid_transition",
		Fields: []FieldError{Field("status", "transition", "status", string(r.Status))}}
}

// Update edits a record the caller wrote. Approved records are closed
// until a reviewer reopens them. The record stays valid against the
// template version it was written with.
func (s *Records) Update(ctx context.Context, p Principal, id string, version int64, patch RecordPatch) (Record, error) {
	const op = "records.update"
	r, err := s.load(ctx, op, p, id, version)
	if err != nil {
		return Record{}, err
	}
	if r.AuthorID != p.User.ID {
		return Record{}, Fail(op, KindForbidden, "not_author", nil)
	}
	if r.Status == StatusApproved {
		return Record{}, transitionErr(op, r)
	}
	next := r
	if patch.OccurredOn != nil {
		next.OccurredOn = strings.TrimSpace(*patch.OccurredOn)
	}
	if patch.EndOn != nil {
		next.EndOn = strings.TrimSpace(*patch.EndOn)
	}
	if patch.Title != nil {
		next.Title = CleanText(*patch.Title)
	}
	if patch.Description != nil {
		next.Description = CleanText(*patch.Description)
	}
	var v Validation
	s.checkStandard(&v, next)
	if patch.Data != nil {
		merged, err := mergeData(r.Data, patch.Data)
		if err != nil {
			v.Add("data", "type", "expected", "object")
		} else {
			t, err := s.recordTemplate(ctx, r)
			if err != nil {
				return Record{}, fmt.Errorf("%s: %w", op, err)
			}
			org, err := s.orgs.Org(ctx, ScopeAll(), r.OrgID)
			if err != nil {
				return Record{}, fmt.Errorf("%s: %w", op, err)
			}
			if err := s.checkData(ctx, p, &v, t, org, merged, &next); err != nil {
				return Record{}, fmt.Errorf("%s: %w", op, err)
			}
		}
	}
	if err := v.Err(op); err != nil {
		return Record{}, err
	}
	changes := recordChanges(r, next)
	if len(changes) == 0 {
		return r, nil
	}
	return s.save(ctx, op, p, next, ActionEdit, "", changes)
}

// save stores next (read at next.Version) with one history event.
func (s *Records) save(ctx context.Context, op string, p Principal, next Record, action, comment string, changes []Change) (Record, error) {
	now := s.now().UTC()
	next.UpdatedAt = now
	if next.Status == StatusSubmitted && next.SubmittedAt.IsZero() {
		next.SubmittedAt = now
	}
	next, err := s.withRollup(ctx, next)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", op, err)
	}
	ev := RecordEvent{ID: NewID(now), RecordID: next.ID, Version: next.Version + 1, At: now,
		ActorID: p.User.ID, ActorRole: p.User.Role, Action: action, Comment: comment, Changes: changes}
	stored, err := s.store.UpdateRecord(ctx, p.RecordScope(), next, ev)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", op, err)
	}
	return stored, nil
}

// maxDataFilters bounds the data.<key> filters of a record list.
const maxDataFilters = 8

// withRollup sets what r adds to totals, judged by its pinned template
// version.
func (s *Records) withRollup(ctx context.Context, r Record) (Record, error) {
	r.Rollup = Rollup{}
	if !countsInTotals(r) {
		return r, nil
	}
	t, err := s.recordTemplate(ctx, r)
	if err != nil {
		return Record{}, err
	}
	r.Rollup = RollupOf(r, t)
	return r, nil
}

// recordTemplate is the definition r was written against: its template
// version with the extension versions it pins.
func (s *Records) recordTemplate(ctx context.Context, r Record) (Template, error) {
	t, err := s.templates.TemplateVersion(ctx, r.Template, r.TemplateVersion)
	if err != nil {
		return Template{}, err
	}
	return pinned(ctx, s.exts, t, r.Extensions)
}

// mergeData applies patch to data as a JSON merge patch one level deep:
// each key of patch replaces the stored value, null removes it.
func mergeData(data, patch json.RawMessage) (json.RawMessage, error) {
	var cur, p map[string]json.RawMessage
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &cur); err != nil {
			return nil, err
		}
	}
	if cur == nil {
		cur = map[string]json.RawMessage{}
	}
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return nil, errors.New("data patch is not an object")
	}
	for k, val := range p {
		if string(bytes.TrimSpace(val)) == "null" {
			delete(cur, k)
			continue
		}
		cur[k] = val
	}
	return json.Marshal(cur)
}

// recordChanges lists what differs between two versions of a record.
func recordChanges(a, b Record) []Change {
	var cs []Change
	add := func(field string, before, after any) {
		cs = append(cs, Change{Field: field, Before: before, After: after})
	}
	if a.OccurredOn != b.OccurredOn {
		add("occurred_on", a.OccurredOn, b.OccurredOn)
	}
	if a.EndOn != b.EndOn {
		add("end_on", a.EndOn, b.EndOn)
	}
	if a.Title != b.Title {
		add("title", a.Title, b.Title)
	}
	if a.Description != b.Description {
		add("description", a.Description, b.Description)
	}
	if a.Status != b.Status {
		add("status", string(a.Status), string(b.Status))
	}
	before, _ := DecodeRecordData(a.Data)
	after, _ := DecodeRecordData(b.Data)
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		x, y := before[k], after[k]
		bx, _ := json.Marshal(x)
		by, _ := json.Marshal(y)
		if !bytes.Equal(bx, by) {
			add("data."+k, x, y)
		}
	}
	return cs
}

// Submit sends a draft or returned record to review.
func (s *Records) Submit(ctx context.Context, p Principal, id string, version int64) (Record, error) {
	const op = "records.submit"
	r, err := s.load(ctx, op, p, id, version)
	if err != nil {
		return Record{}, err
	}
	if r.AuthorID != p.User.ID {
		return Record{}, Fail(op, KindForbidden, "not_author", nil)
	}
	if r.Status != StatusDraft && r.Status != StatusReturned {
		return Record{}, transitionErr(op, r)
	}
	next := r
	next.Status = StatusSubmitted
	return s.save(ctx, op, p, next, ActionSubmit, "", recordChanges(r, next))
}

// Who reviews a record. Never its author. A sysadmin reviews anything;
// everyone else only records of their own subtree (which is also all
// that load lets them read). The level right above the author approves
// (a school's principal for its teachers, the district for principals,
// the city for district admins); anyone above the author may return or
// reopen, and so may whoever may approve.
//
// A record a bureau admin (district or city) files belongs to the unit it
// is filed for, and that unit's own heads review it: for the bureau's own
// figures another admin of the same unit (four eyes), for a record filed
// on a school's behalf that school's principal (and the district above,
// as for the school's own records). See unitReviews.

// outranks reports whether p may return, reopen or withdraw r: p may
// approve it, or stands above its author.
func outranks(p Principal, r Record) bool {
	return approves(p, r) ||
		(p.User.ID != r.AuthorID && reaches(p, r) && p.User.Role.Rank() > r.AuthorRole.Rank())
}

// approves reports whether p is an approver of r: a sysadmin, the level
// right above its author, or (for a bureau admin's record) a reviewer of
// the unit it was filed for.
func approves(p Principal, r Record) bool {
	switch {
	case p.User.ID == r.AuthorID || !reaches(p, r):
		return false
	case p.User.Role == RoleSysadmin || p.User.Role.Rank() == r.AuthorRole.Rank()+1:
		return true
	}
	return unitReviews(p, r)
}

// unitReviews reports whether p reviews r as the unit r was filed for,
// when a district or city admin filed it: a head of that very unit (its
// principal for a school, another admin of the same role for a district
// or city), or, for a school's record, an admin of the school's district.
func unitReviews(p Principal, r Record) bool {
	if r.AuthorRole != RoleDistrictAdmin && r.AuthorRole != RoleCityAdmin || len(r.OrgPath) == 0 {
		return false
	}
	head := p.User.Role != RoleTeacher && p.User.Role.OrgKind() == pathKind(r.OrgPath)
	switch {
	case head && p.User.OrgID == r.OrgID:
		return true
	case IsSchoolPath(r.OrgPath):
		return p.User.Role == RoleDistrictAdmin && p.User.OrgID == r.OrgPath[1]
	}
	return false
}

// reaches reports whether r lies in p's part of the tree.
func reaches(p Principal, r Record) bool {
	return p.User.Role == RoleSysadmin || (p.User.OrgID != "" && slices.Contains(r.OrgPath, p.User.OrgID))
}

// pathKind is the level of the unit an org path ends at: the tree is
// city, district, school.
func pathKind(path []string) OrgKind {
	switch len(path) {
	case 1:
		return OrgCity
	case 2:
		return OrgDistrict
	case 3:
		return OrgSchool
	}
	return ""
}

// Review actions a reviewer takes.
func (s *Records) review(ctx context.Context, op string, p Principal, id string, version int64, action, comment string) (Record, error) {
	comment = CleanText(comment)
	var v Validation
	if action != ActionApprove && comment == "" {
		field := "comment"
		if action == ActionReopen {
			field = "reason"
		}
		v.Add(field, "required")
	}
	if utf8.RuneCountInString(comment) > maxComment {
		v.Add("comment", "max_length", "max", maxComment)
	}
	if err := v.Err(op); err != nil {
		return Record{}, err
	}
	r, err := s.load(ctx, op, p, id, version)
	if err != nil {
		return Record{}, err
	}
	allowed := outranks(p, r)
	from, to := StatusSubmitted, StatusReturned
	switch action {
	case ActionApprove:
		allowed, to = approves(p, r), StatusApproved
	case ActionReopen:
		from = StatusApproved
	}
	if !allowed {
		return Record{}, Fail(op, KindForbidden, "not_reviewer", nil)
	}
	if r.Status != from {
		return Record{}, transitionErr(op, r)
	}
	next := r
	next.Status = to
	now := s.now().UTC()
	next.Review = Review{By: p.User.ID, Role: p.User.Role, At: now, Action: action, Comment: comment}
	return s.save(ctx, op, p, next, action, comment, recordChanges(r, next))
}

// Approve accepts a submitted record: from now on it counts in totals.
func (s *Records) Approve(ctx context.Context, p Principal, id string, version int64, comment string) (Record, error) {
	return s.review(ctx, "records.approve", p, id, version, ActionApprove, comment)
}

// Return sends a submitted record back to its author with a comment.
func (s *Records) Return(ctx context.Context, p Principal, id string, version int64, comment string) (Record, error) {
	return s.review(ctx, "records.return", p, id, version, ActionReturn, comment)
}

// Reopen takes an approved record back out of the totals and returns it
// to its author, with the reason.
func (s *Records) Reopen(ctx context.Context, p Principal, id string, version int64, reason string) (Record, error) {
	return s.review(ctx, "records.reopen", p, id, version, ActionReopen, reason)
}

// Withdraw soft-deletes a record: its author or a reviewer may withdraw
// it unless it is approved (reopen it first). It stays for audit.
func (s *Records) Withdraw(ctx context.Context, p Principal, id string, version int64) error {
	const op = "records.withdraw"
	r, err := s.load(ctx, op, p, id, version)
	if err != nil {
		return err
	}
	if r.AuthorID != p.User.ID && !outranks(p, r) {
		return Fail(op, KindForbidden, "forbidden", nil)
	}
	if r.Status == StatusApproved {
		return transitionErr(op, r)
	}
	next := r
	next.Status = StatusWithdrawn
	next.DeletedAt = s.now().UTC()
	_, err = s.save(ctx, op, p, next, ActionWithdraw, "", recordChanges(r, next))
	return err
}

// inputHash fingerprints what the client sent for a new record, with the
// data in canonical form so key order and spacing do not matter.
func inputHash(in RecordInput) string {
	data := in.Data
	var m any
	if json.Unmarshal(in.Data, &m) == nil {
		data, _ = json.Marshal(m) // maps marshal with sorted keys
	}
	b, _ := json.Marshal([]any{in.Template, in.OrgID, in.OccurredOn, in.EndOn, CleanText(in.Title),
		CleanText(in.Description), json.RawMessage(orNull(data)), in.Status})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func orNull(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("null")
	}
	return b
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
