package services

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Users manages accounts: who may create whom, where, and with what.
type Users struct {
	users     UserStore
	orgs      OrgStore
	sessions  SessionStore
	passwords *Passwords
	audit     *Audit
	now       Clock
}

// NewUsers returns the user service; account changes go to audit (nil:
// not recorded).
func NewUsers(users UserStore, orgs OrgStore, sessions SessionStore, passwords *Passwords, audit *Audit, now Clock) *Users {
	return &Users{users: users, orgs: orgs, sessions: sessions, passwords: passwords, audit: audit, now: now}
}

// UserInput is what an admin may set on an account. Nil pointers leave a
// field as it is on update.
type UserInput struct {
	Username string
	Name     *string
	Mobile   *string
	Role     *Role
	OrgID    string
	Password string
	Disabled *bool
}

// NewUser is a created account with the initial password when the server
// generated it (shown once, never stored in clear).
type NewUser struct {
	User            User
	InitialPassword string
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.@-]{1,63}$`)

const maxUserName = 50

// canManage reports whether the caller may create or change accounts of
// role r: admins manage roles below their own, principals manage teachers
// of their school, a sysadmin manages everyone.
func canManage(caller, r Role) bool {
	if caller == RoleSysadmin {
		return true
	}
	if caller.Rank() < RolePrincipal.Rank() {
		return false
	}
	return r.Rank() < caller.Rank()
}

// Create adds one account inside the caller's scope.
func (s *Users) Create(ctx context.Context, p Principal, in UserInput) (NewUser, error) {
	const op = "users.create"
	if p.User.Role.Rank() < RolePrincipal.Rank() {
		return NewUser{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	var v Validation
	u, generated, err := s.prepare(ctx, p, &v, "", in)
	if err != nil {
		return NewUser{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := v.Err(op); err != nil {
		return NewUser{}, err
	}
	if err := s.checkFree(ctx, &v, "", []User{u}); err != nil {
		return NewUser{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := v.Err(op); err != nil {
		return NewUser{}, err
	}
	if u.PasswordHash, err = s.passwords.Hash(ctx, pick(in.Password, generated)); err != nil {
		return NewUser{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := s.users.CreateUsers(ctx, []User{u}); err != nil {
		if errors.Is(err, ErrConflict) {
			return NewUser{}, Invalid(op, Field("username", "taken"))
		}
		return NewUser{}, fmt.Errorf("%s: %w", op, err)
	}
	s.audit.Record(ctx, created(p, u))
	return NewUser{User: u, InitialPassword: generated}, nil
}

// prepare validates in (adding field errors under prefix) and builds the
// account; when no password is given it generates one.
func (s *Users) prepare(ctx context.Context, p Principal, v *Validation, prefix string, in UserInput) (User, string, error) {
	now := s.now().UTC()
	u := User{ID: NewID(now), Version: 1, CreatedAt: now, UpdatedAt: now, MustChangePassword: true, PasswordChangedAt: now}
	if in.Name != nil {
		u.Name = CleanText(*in.Name)
	}
	checkText(v, prefix+"name", u.Name, true, maxUserName)
	if in.Mobile != nil && CleanText(*in.Mobile) != "" {
		m, ok := NormalizeMobile(*in.Mobile)
		if !ok {
			v.Add(prefix+"mobile", "mobile")
		}
		u.Mobile = m
	}
	u.Username = strings.ToLower(CleanText(in.Username))
	if u.Username == "" {
		u.Username = u.Mobile
	}
	switch {
	case u.Username == "" && u.Mobile == "":
		v.Add(prefix+"username", "required")
	case !usernamePattern.MatchString(u.Username):
		v.Add(prefix+"username", "username")
	case looksLikeMobile(u.Username) && u.Username != u.Mobile:
		// A username that is someone else's mobile number would make
		// sign-in by mobile ambiguous.
		v.Add(prefix+"username", "username_is_mobile")
	}
	if in.Role == nil || !in.Role.Valid() {
		v.Add(prefix+"role", "enum", "options", "teacher, principal, district_admin, city_admin, sysadmin")
	} else {
		u.Role = *in.Role
		if !canManage(p.User.Role, u.Role) {
			v.Add(prefix+"role", "role_not_allowed")
		}
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
	}
	if err := s.placeUser(ctx, p, v, prefix, &u, in.OrgID); err != nil {
		return User{}, "", err
	}
	var generated string
	if in.Password == "" {
		generated = GeneratePassword()
	} else {
		for _, fe := range CheckPassword(in.Password) {
			fe.Field = prefix + "password"
			v.fields = append(v.fields, fe)
		}
	}
	return u, generated, nil
}

// placeUser checks that orgID lies in the caller's scope and suits the
// role, and copies its path onto u.
func (s *Users) placeUser(ctx context.Context, p Principal, v *Validation, prefix string, u *User, orgID string) error {
	if orgID == "" {
		if u.Role == RoleSysadmin {
			return nil
		}
		v.Add(prefix+"org_id", "required")
		return nil
	}
	o, err := s.orgs.Org(ctx, p.Scope(), orgID)
	if errors.Is(err, ErrNotFound) {
		v.Add(prefix+"org_id", "not_found")
		return nil
	}
	if err != nil {
		return err
	}
	if want := u.Role.OrgKind(); want != "" && o.Kind != want {
		v.Add(prefix+"org_id", "org_kind", "kind", string(want))
	}
	u.OrgID, u.OrgPath = o.ID, o.Path
	return nil
}

// checkFree adds a field error for every username or mobile already taken
// by another account (self is the account being changed, if any).
func (s *Users) checkFree(ctx context.Context, v *Validation, self string, users []User) error {
	for i, u := range users {
		prefix := ""
		if len(users) > 1 {
			prefix = fmt.Sprintf("rows[%d].", i)
		}
		// A username that defaulted to the mobile number is reported as the
		// mobile number: that is what the admin typed.
		for _, c := range []struct{ field, login string }{{"mobile", u.Mobile}, {"username", u.Username}} {
			if c.login == "" || (c.field == "username" && c.login == u.Mobile) {
				continue
			}
			other, err := s.users.UserByLogin(ctx, c.login)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return err
			case other.ID != self:
				v.Add(prefix+c.field, "taken")
			}
		}
	}
	return nil
}

// Get returns an account the caller can see.
func (s *Users) Get(ctx context.Context, p Principal, id string) (User, error) {
	if p.User.ID == id {
		return p.User, nil
	}
	if p.User.Role.Rank() < RolePrincipal.Rank() {
		return User{}, fmt.Errorf("users.get: %w", ErrNotFound)
	}
	u, err := s.users.User(ctx, p.Scope(), id)
	if err != nil {
		return User{}, fmt.Errorf("users.get: %w", err)
	}
	return u, nil
}

// Staff lists the teachers and principals of a school inside the caller's
// scope, in id order: who a record's people field may name (a teacher
// picks the colleagues trained with them). Anyone who files records may
// read it; units outside the scope are ErrNotFound, other units than
// schools not_school.
func (s *Users) Staff(ctx context.Context, p Principal, schoolID string, page Page) ([]User, error) {
	const op = "users.staff"
	o, err := s.orgs.Org(ctx, p.Scope(), schoolID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if o.Kind != OrgSchool {
		return nil, Invalid(op, Field("id", "not_school"))
	}
	users, err := s.users.Users(ctx, ScopeOrg(o.ID), UserQuery{OrgID: o.ID, Page: page.Normalize()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return users, nil
}

// List returns one page of the accounts the caller can see.
func (s *Users) List(ctx context.Context, p Principal, q UserQuery) ([]User, error) {
	if p.User.Role.Rank() < RolePrincipal.Rank() {
		return nil, Fail("users.list", KindForbidden, "forbidden", nil)
	}
	q.Page = q.Page.Normalize()
	users, err := s.users.Users(ctx, p.Scope(), q)
	if err != nil {
		return nil, fmt.Errorf("users.list: %w", err)
	}
	return users, nil
}

// Count counts the accounts the caller can see that match q.
func (s *Users) Count(ctx context.Context, p Principal, q UserQuery) (int64, error) {
	if p.User.Role.Rank() < RolePrincipal.Rank() {
		return 0, Fail("users.count", KindForbidden, "forbidden", nil)
	}
	n, err := s.users.CountUsers(ctx, p.Scope(), q)
	if err != nil {
		return 0, fmt.Errorf("users.count: %w", err)
	}
	return n, nil
}

// Update changes an account's name, mobile, role, org or disabled flag at
// the version the caller holds. Disabling an account signs it out
// everywhere; nobody changes their own role or disables themselves.
func (s *Users) Update(ctx context.Context, p Principal, id string, version int64, in UserInput) (User, error) {
	const op = "users.update"
	if p.User.Role.Rank() < RolePrincipal.Rank() {
		return User{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	u, err := s.users.User(ctx, p.Scope(), id)
	if err != nil {
		return User{}, fmt.Errorf("%s: %w", op, err)
	}
	if u.Version != version {
		return User{}, Fail(op, KindStale, "precondition_failed", ErrStale)
	}
	if !canManage(p.User.Role, u.Role) {
		return User{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	before := u
	var v Validation
	if in.Username != "" && strings.ToLower(CleanText(in.Username)) != u.Username {
		v.Add("username", "immutable")
	}
	if in.Password != "" {
		v.Add("password", "not_allowed")
	}
	if in.Name != nil {
		u.Name = CleanText(*in.Name)
		checkText(&v, "name", u.Name, true, maxUserName)
	}
	if in.Mobile != nil {
		u.Mobile = ""
		if CleanText(*in.Mobile) != "" {
			m, ok := NormalizeMobile(*in.Mobile)
			if !ok {
				v.Add("mobile", "mobile")
			}
			u.Mobile = m
		}
		if looksLikeMobile(u.Username) && u.Mobile != u.Username {
			v.Add("mobile", "username_is_mobile")
		}
	}
	self := id == p.User.ID
	if in.Role != nil && *in.Role != u.Role {
		switch {
		case self:
			v.Add("role", "self")
		case !in.Role.Valid():
			v.Add("role", "enum", "options", "teacher, principal, district_admin, city_admin, sysadmin")
		case !canManage(p.User.Role, *in.Role):
			v.Add("role", "role_not_allowed")
		default:
			u.Role = *in.Role
		}
	}
	orgID := u.OrgID
	if in.OrgID != "" {
		orgID = in.OrgID
	}
	if err := s.placeUser(ctx, p, &v, "", &u, orgID); err != nil {
		return User{}, fmt.Errorf("%s: %w", op, err)
	}
	disable := false
	if in.Disabled != nil && *in.Disabled != u.Disabled {
		if self {
			v.Add("disabled", "self")
		}
		u.Disabled = *in.Disabled
		disable = u.Disabled
	}
	if err := v.Err(op); err != nil {
		return User{}, err
	}
	if err := s.checkFree(ctx, &v, u.ID, []User{u}); err != nil {
		return User{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := v.Err(op); err != nil {
		return User{}, err
	}
	u.UpdatedAt = s.now().UTC()
	updated, err := s.users.UpdateUser(ctx, p.Scope(), u)
	if errors.Is(err, ErrConflict) {
		return User{}, Invalid(op, Field("mobile", "taken"))
	}
	if err != nil {
		return User{}, fmt.Errorf("%s: %w", op, err)
	}
	if disable {
		if err := s.sessions.RevokeUserSessions(ctx, u.ID, "", u.UpdatedAt); err != nil {
			return User{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	s.audit.Record(ctx, accountChanges(p, before, updated)...)
	return updated, nil
}

// ResetPassword sets a new password for an account the caller manages
// (generated when empty), signs it out everywhere and makes it choose its
// own at next sign-in. It returns the generated password.
func (s *Users) ResetPassword(ctx context.Context, p Principal, id, password string) (string, error) {
	const op = "users.reset_password"
	u, err := s.users.User(ctx, p.Scope(), id)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if id == p.User.ID || !canManage(p.User.Role, u.Role) {
		return "", Fail(op, KindForbidden, "forbidden", nil)
	}
	generated := ""
	if password == "" {
		generated = GeneratePassword()
		password = generated
	} else if fe := CheckPassword(password); len(fe) > 0 {
		return "", Invalid(op, fe...)
	}
	if u.PasswordHash, err = s.passwords.Hash(ctx, password); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	now := s.now().UTC()
	u.MustChangePassword, u.PasswordChangedAt, u.UpdatedAt = true, now, now
	if _, err := s.users.UpdateUser(ctx, p.Scope(), u); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if err := s.sessions.RevokeUserSessions(ctx, u.ID, "", now); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	e := auditBy(p, AuditPasswordReset).aboutUser(u)
	if generated != "" {
		e.Detail = "generated"
	}
	s.audit.Record(ctx, e)
	return generated, nil
}

// created is the audit event of p creating u.
func created(p Principal, u User) AuditEvent {
	e := auditBy(p, AuditUserCreated).aboutUser(u)
	e.Detail = string(u.Role)
	return e
}

// accountChanges are the audit events of p changing an account from
// before to after: role, unit, disabled (a renamed account or a new
// mobile number is no security event).
func accountChanges(p Principal, before, after User) []AuditEvent {
	var out []AuditEvent
	if before.Role != after.Role {
		e := auditBy(p, AuditRoleChanged).aboutUser(after)
		e.Detail = string(before.Role) + " -> " + string(after.Role)
		out = append(out, e)
	}
	if before.OrgID != after.OrgID {
		e := auditBy(p, AuditOrgChanged).aboutUser(after)
		e.Detail = before.OrgID + " -> " + after.OrgID
		out = append(out, e)
		// The unit it left reads the move too.
		e.OrgPath = before.OrgPath
		out = append(out, e)
	}
	if before.Disabled != after.Disabled {
		kind := AuditUserEnabled
		if after.Disabled {
			kind = AuditUserDisabled
		}
		out = append(out, auditBy(p, kind).aboutUser(after))
	}
	return out
}

// looksLikeMobile reports whether s has the shape of a mainland mobile number.
func looksLikeMobile(s string) bool {
	_, ok := NormalizeMobile(s)
	return ok && len(s) == 11
}

// passwordAlphabet avoids characters people misread on paper (0/O, 1/l/I).
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a random 12-character initial password with at
// least one digit.
func GeneratePassword() string {
	out := make([]byte, 0, 12)
	var b [32]byte
	for len(out) < cap(out) {
		_, _ = rand.Read(b[:])
		for _, c := range b {
			// Rejection sampling keeps every character equally likely.
			if int(c) < 256-256%len(passwordAlphabet) && len(out) < cap(out) {
				out = append(out, passwordAlphabet[int(c)%len(passwordAlphabet)])
			}
		}
	}
	if !strings.ContainsAny(string(out), "23456789") {
		out[len(out)-1] = "23456789"[int(b[0])%8]
	}
	return string(out)
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ImportResult is the per-row outcome of a bulk import.
type ImportResult struct {
	Line            int
	User            User
	InitialPassword string
	Errors          []FieldError
}

// ImportReport answers a bulk import: every row with its outcome. When any
// row failed, Created is false and nothing was stored.
type ImportReport struct {
	Created bool
	DryRun  bool
	Rows    []ImportResult
}

// MaxImportRows bounds one import file.
const MaxImportRows = 2000

// Import creates every account in rows, or none: each row is checked
// (role, mobile, school in the caller's scope, username and mobile free in
// the store and unique in the file) and the report names every failure by
// line. dryRun checks without storing.
func (s *Users) Import(ctx context.Context, p Principal, rows []ImportRow, dryRun bool) (ImportReport, error) {
	const op = "users.import"
	if p.User.Role.Rank() < RolePrincipal.Rank() {
		return ImportReport{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	schools, err := s.schoolIndex(ctx, p)
	if err != nil {
		return ImportReport{}, fmt.Errorf("%s: %w", op, err)
	}
	report := ImportReport{DryRun: dryRun, Rows: make([]ImportResult, len(rows))}
	users := make([]User, len(rows))
	failed := false
	seen := map[string]int{}
	for i, row := range rows {
		var v Validation
		in := UserInput{Username: row.Username, Name: &row.Name, Mobile: &row.Mobile, Password: row.Password}
		if r, ok := ParseRole(row.Role); ok {
			in.Role = &r
		} else if row.Role == "" {
			v.Add("role", "required")
		} else {
			bad := Role(row.Role)
			in.Role = &bad
		}
		school, ok := schools.find(CleanText(row.School))
		switch {
		case CleanText(row.School) == "":
			v.Add("school", "required")
		case !ok:
			v.Add("school", "not_found")
		}
		if CleanText(row.Mobile) == "" {
			v.Add("mobile", "required")
		}
		u, generated, err := s.prepare(ctx, p, &v, "", in)
		if err != nil {
			return ImportReport{}, fmt.Errorf("%s: %w", op, err)
		}
		// The school column places the account; prepare saw no org id.
		v.fields = slices.DeleteFunc(v.fields, func(fe FieldError) bool { return fe.Field == "org_id" })
		nameImportRoles(v.fields)
		if ok && u.Role.Valid() {
			if u.Role.OrgKind() == OrgSchool {
				u.OrgID, u.OrgPath = school.ID, school.Path
			} else {
				v.Add("role", "role_not_allowed")
			}
		}
		for _, key := range []string{"u:" + u.Username, "m:" + u.Mobile} {
			if key == "m:" || key == "u:" {
				continue
			}
			if first, dup := seen[key]; dup {
				v.Add(map[bool]string{true: "username", false: "mobile"}[key[0] == 'u'], "duplicate_in_file", "line", first)
			} else {
				seen[key] = row.Line
			}
		}
		if len(v.Fields()) == 0 {
			if err := s.checkFree(ctx, &v, "", []User{u}); err != nil {
				return ImportReport{}, fmt.Errorf("%s: %w", op, err)
			}
		}
		users[i] = u
		report.Rows[i] = ImportResult{Line: row.Line, User: u, Errors: v.Fields()}
		if in.Password == "" {
			report.Rows[i].InitialPassword = generated
		}
		failed = failed || len(v.Fields()) > 0
	}
	if failed || dryRun || len(users) == 0 {
		if failed {
			for i := range report.Rows {
				report.Rows[i].InitialPassword = ""
			}
		}
		return report, nil
	}
	for i := range users {
		pw := pick(rows[i].Password, report.Rows[i].InitialPassword)
		if users[i].PasswordHash, err = s.passwords.Hash(ctx, pw); err != nil {
			return ImportReport{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	if err := s.users.CreateUsers(ctx, users); err != nil {
		if errors.Is(err, ErrConflict) {
			// Someone took a username or mobile between the check and the
			// insert: nothing was stored, and a retry names the row.
			return ImportReport{}, Fail(op, KindConflict, "conflict", err)
		}
		return ImportReport{}, fmt.Errorf("%s: %w", op, err)
	}
	report.Created = true
	events := make([]AuditEvent, len(users))
	for i := range report.Rows {
		report.Rows[i].User = users[i]
		events[i] = created(p, users[i])
		events[i].Detail = fmt.Sprintf("import line %d", rows[i].Line)
	}
	s.audit.Record(ctx, events...)
	return report, nil
}

// schoolIndex finds schools in the caller's scope by code or by name.
type schoolIndex struct {
	byCode, byName map[string]Org
	ambiguous      map[string]bool
}

func (x schoolIndex) find(key string) (Org, bool) {
	if o, ok := x.byCode[key]; ok {
		return o, true
	}
	if x.ambiguous[key] {
		return Org{}, false
	}
	o, ok := x.byName[key]
	return o, ok
}

func (s *Users) schoolIndex(ctx context.Context, p Principal) (schoolIndex, error) {
	x := schoolIndex{byCode: map[string]Org{}, byName: map[string]Org{}, ambiguous: map[string]bool{}}
	page := Page{Limit: MaxLimit}
	for {
		orgs, err := s.orgs.Orgs(ctx, p.Scope(), OrgQuery{Kind: OrgSchool, Page: page})
		if err != nil {
			return x, err
		}
		for _, o := range orgs {
			if o.Code != "" {
				x.byCode[o.Code] = o
			}
			if _, dup := x.byName[o.Name]; dup {
				x.ambiguous[o.Name] = true
			}
			x.byName[o.Name] = o
		}
		if len(orgs) < page.Limit {
			return x, nil
		}
		page.After = orgs[len(orgs)-1].ID
	}
}
