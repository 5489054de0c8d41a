package services

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Templates manages report templates: who may define, change and copy
// them, and which templates a school may file records against.
type Templates struct {
	store TemplateStore
	orgs  OrgStore
	// exts keeps the bureaus' extensions; nil when the store has none.
	exts  ExtensionStore
	audit *Audit
	now   Clock
}

// NewTemplates returns the template service; template changes go to
// audit (nil: not recorded).
func NewTemplates(store TemplateStore, orgs OrgStore, audit *Audit, now Clock) *Templates {
	exts, _ := store.(ExtensionStore) // both stores keep extensions beside templates
	return &Templates{store: store, orgs: orgs, exts: exts, audit: audit, now: now}
}

// templateEvent is the audit event of p doing kind to t.
func templateEvent(p Principal, kind AuditKind, t Template) AuditEvent {
	e := auditBy(p, kind)
	e.SubjectType, e.SubjectID, e.SubjectName = "template", t.Key, t.Name
	e.OrgPath = t.OwnerPath
	e.Detail = fmt.Sprintf("v%d", t.Version)
	return e
}

// TemplateInput is what a caller may set on a template. Nil pointers leave
// a field as it is on update.
type TemplateInput struct {
	Key string
	// OwnerID is the unit that owns a new template; the caller's own unit
	// when empty.
	OwnerID  string
	Name     *string
	NameEN   *string
	Category *string
	Levels   *[]OrgKind
	Active   *bool
	Fields   *[]TemplateField
	Summary  *TemplateSummary
}

// ViewOf is where p stands when reading templates.
func ViewOf(p Principal) TemplateView {
	s := p.Scope()
	return TemplateView{Scope: Scope{All: s.All, OrgID: s.OrgID}, Path: p.User.OrgPath}
}

// EnsureBuiltins installs the built-in catalogue templates that are not
// there yet, and brings the ones nobody has changed up to this release's
// definition as a new version (records keep the version they were written
// against); ones an admin has changed are left alone. It returns how many
// it installed or upgraded.
func (s *Templates) EnsureBuiltins(ctx context.Context) (int, error) {
	now := s.now().UTC()
	n := 0
	all := TemplateView{Scope: ScopeAll()}
	for _, t := range BuiltinTemplates() {
		t.CreatedAt, t.UpdatedAt = now, now
		err := s.store.CreateTemplate(ctx, t)
		switch {
		case errors.Is(err, ErrConflict):
			cur, err := s.store.Template(ctx, all, t.Key)
			if err != nil {
				return n, fmt.Errorf("templates.builtins: %s: %w", t.Key, err)
			}
			if !cur.Builtin || cur.UpdatedBy != "" || sameDefinition(cur, t) {
				continue
			}
			next := t
			next.Version, next.CreatedAt, next.CreatedBy = cur.Version, cur.CreatedAt, cur.CreatedBy
			next.Active = cur.Active
			_, err = s.store.UpdateTemplate(ctx, all, next)
			switch {
			case errors.Is(err, ErrStale):
				// Another instance upgraded it first.
			case err != nil:
				return n, fmt.Errorf("templates.builtins: upgrade %s: %w", t.Key, err)
			default:
				n++
			}
		case err != nil:
			return n, fmt.Errorf("templates.builtins: %s: %w", t.Key, err)
		default:
			n++
		}
	}
	return n, nil
}

// sameDefinition reports whether a and b define the same template
// (names, category, levels and fields), whatever their versions and times.
func sameDefinition(a, b Template) bool {
	return a.Name == b.Name && a.NameEN == b.NameEN && a.Category == b.Category &&
		slices.Equal(a.Levels, b.Levels) && a.Summary == b.Summary && reflect.DeepEqual(normFields(a.Fields), normFields(b.Fields))
}

// normFields makes empty lists nil, as stores give them back.
func normFields(fs []TemplateField) []TemplateField {
	out := slices.Clone(fs)
	for i := range out {
		if len(out[i].Options) == 0 {
			out[i].Options = nil
		}
	}
	return out
}

// Create defines a template owned by the caller's unit (or a unit below
// it): district and city admins define templates for their schools.
func (s *Templates) Create(ctx context.Context, p Principal, in TemplateInput) (Template, error) {
	t, err := s.create(ctx, p, in)
	if err == nil {
		s.audit.Record(ctx, templateEvent(p, AuditTemplateCreated, t))
	}
	return t, err
}

func (s *Templates) create(ctx context.Context, p Principal, in TemplateInput) (Template, error) {
	const op = "templates.create"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Template{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	t := Template{Key: in.Key, Active: true}
	applyTemplateInput(&t, in)
	owner := in.OwnerID
	if owner == "" {
		owner = p.User.OrgID
	}
	var v Validation
	if owner != "" {
		o, err := s.orgs.Org(ctx, p.Scope(), owner)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add("owner_id", "not_found")
		case err != nil:
			return Template{}, fmt.Errorf("%s: %w", op, err)
		case o.Kind == OrgSchool:
			v.Add("owner_id", "owner_kind")
		default:
			t.OwnerID, t.OwnerPath = o.ID, o.Path
		}
	}
	clean, errs := CheckTemplate(t)
	v.fields = append(v.fields, errs...)
	if err := v.Err(op); err != nil {
		return Template{}, err
	}
	now := s.now().UTC()
	clean.Version = 1
	clean.Builtin = false
	clean.CreatedBy, clean.UpdatedBy = p.User.ID, p.User.ID
	clean.CreatedAt, clean.UpdatedAt = now, now
	if err := s.store.CreateTemplate(ctx, clean); err != nil {
		if errors.Is(err, ErrConflict) {
			return Template{}, Invalid(op, Field("key", "taken"))
		}
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	return clean, nil
}

// Get returns the current version of a template the caller can see.
func (s *Templates) Get(ctx context.Context, p Principal, key string) (Template, error) {
	t, err := s.store.Template(ctx, ViewOf(p), key)
	if err != nil {
		return Template{}, fmt.Errorf("templates.get: %w", err)
	}
	return t, nil
}

// Version returns one version of a template the caller can see.
func (s *Templates) Version(ctx context.Context, p Principal, key string, version int64) (Template, error) {
	const op = "templates.version"
	if _, err := s.store.Template(ctx, ViewOf(p), key); err != nil {
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	t, err := s.store.TemplateVersion(ctx, key, version)
	if err != nil {
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// List returns one page of the templates the caller can see.
func (s *Templates) List(ctx context.Context, p Principal, q TemplateQuery) ([]Template, error) {
	q.Page = q.Page.Normalize()
	ts, err := s.store.Templates(ctx, ViewOf(p), q)
	if err != nil {
		return nil, fmt.Errorf("templates.list: %w", err)
	}
	return ts, nil
}

// canManageTemplate reports whether p may change t: admins of its owner or above;
// the built-in catalogue belongs to the deployment, so city admins and
// sysadmins manage it.
func canManageTemplate(p Principal, t Template) bool {
	switch {
	case p.User.Role == RoleSysadmin:
		return true
	case p.User.Role.Rank() < RoleDistrictAdmin.Rank():
		return false
	case t.OwnerID == "":
		// Built-ins are shared by every city: only the sysadmin, who owns
		// them all, changes them; a city or district adapts a copy.
		return false
	}
	return p.Scope().Covers(t.OwnerPath)
}

// Update changes a template at version, storing a new version. Records
// keep the version they were written against, so removing a field or an
// option never breaks them; a field keeps its type across versions, so
// totals can follow it by key.
func (s *Templates) Update(ctx context.Context, p Principal, key string, version int64, in TemplateInput) (Template, error) {
	const op = "templates.update"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Template{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	view := ViewOf(p)
	cur, err := s.store.Template(ctx, view, key)
	if err != nil {
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	if !canManageTemplate(p, cur) {
		return Template{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	if cur.Version != version {
		return Template{}, fmt.Errorf("%s: %w", op, ErrStale)
	}
	next := cur
	next.Fields = slices.Clone(cur.Fields)
	applyTemplateInput(&next, in)
	clean, errs := CheckTemplate(next)
	var v Validation
	v.fields = append(v.fields, errs...)
	// A key keeps its type in every version, also one removed and added
	// back later, so totals can follow it across versions.
	types, err := s.fieldTypes(ctx, cur)
	if err != nil {
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	for i, f := range clean.Fields {
		if old, ok := types[f.Key]; ok && old != f.Type && !(old.Numeric() && f.Type.Numeric()) {
			v.Add(fmt.Sprintf("fields[%d].type", i), "type_changed", "type", string(old))
		}
	}
	if err := v.Err(op); err != nil {
		return Template{}, err
	}
	clean.UpdatedBy = p.User.ID
	clean.UpdatedAt = s.now().UTC()
	stored, err := s.store.UpdateTemplate(ctx, view, clean)
	if err != nil {
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	e := templateEvent(p, AuditTemplateUpdated, stored)
	if cur.Active != stored.Active {
		e.Detail += map[bool]string{true: ", enabled", false: ", disabled"}[stored.Active]
	}
	s.audit.Record(ctx, e)
	return stored, nil
}

// fieldTypes collects the type each field key had in any version of t,
// the current one last (so it wins).
func (s *Templates) fieldTypes(ctx context.Context, cur Template) (map[string]FieldType, error) {
	types := map[string]FieldType{}
	for v := int64(1); v < cur.Version; v++ {
		old, err := s.store.TemplateVersion(ctx, cur.Key, v)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range old.Fields {
			types[f.Key] = f.Type
		}
	}
	for _, f := range cur.Fields {
		types[f.Key] = f.Type
	}
	return types, nil
}

// Copy makes a new template from one the caller can see, owned by the
// caller's unit: how a district starts from the built-in catalogue.
func (s *Templates) Copy(ctx context.Context, p Principal, key string, in TemplateInput) (Template, error) {
	const op = "templates.copy"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Template{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	src, err := s.store.Template(ctx, ViewOf(p), key)
	if err != nil {
		return Template{}, fmt.Errorf("%s: %w", op, err)
	}
	cp := TemplateInput{Key: in.Key, OwnerID: in.OwnerID, Name: &src.Name, NameEN: &src.NameEN,
		Category: &src.Category, Levels: &src.Levels, Fields: &src.Fields, Summary: &src.Summary}
	if in.Name != nil {
		cp.Name = in.Name
	}
	if in.NameEN != nil {
		cp.NameEN = in.NameEN
	}
	t, err := s.create(ctx, p, cp)
	if err == nil {
		e := templateEvent(p, AuditTemplateCopied, t)
		e.Detail = "from " + key
		s.audit.Record(ctx, e)
	}
	return t, err
}

func applyTemplateInput(t *Template, in TemplateInput) {
	if in.Name != nil {
		t.Name = *in.Name
	}
	if in.NameEN != nil {
		t.NameEN = *in.NameEN
	}
	if in.Category != nil {
		t.Category = *in.Category
	}
	if in.Levels != nil {
		t.Levels = slices.Clone(*in.Levels)
	}
	if in.Active != nil {
		t.Active = *in.Active
	}
	if in.Fields != nil {
		t.Fields = slices.Clone(*in.Fields)
	}
	if in.Summary != nil {
		t.Summary = *in.Summary
	}
}

// usableFor reports whether records for org o may be written against t:
// it is active, reaches o (built in, or owned by a unit above o) and
// applies to o's level.
func usableFor(t Template, o Org) bool {
	return t.Active && (t.OwnerID == "" || slices.Contains(o.Path, t.OwnerID)) && slices.Contains(t.Levels, o.Kind)
}
