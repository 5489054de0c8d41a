package services

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// TemplateExtension is a bureau's own vocabulary for a template it can
// see, for its own subtree, keeping the template's key (so the series
// stays one): options added to enum fields (诚信好少年 to honor_award's
// categories, 旱厕改造 to construction's kinds) and fields added. It never
// changes an existing field. Extensions are versioned like templates and
// records pin the versions they were written against.
type TemplateExtension struct {
	Template string
	// OwnerID is the district or city extending it; OwnerPath its path.
	OwnerID   string
	OwnerPath []string
	// Options are added to the template's enum fields, by field key.
	Options map[string][]Option
	// Fields are added after the template's fields.
	Fields []TemplateField
	// Summary rewords the template's sentence in the work-summary drafts
	// of the owner's subtree (the deepest unit's wording wins); empty
	// keeps the template's.
	Summary   TemplateSummary
	Version   int64
	UpdatedBy string
	UpdatedAt time.Time
}

// ExtensionRef pins one extension version.
type ExtensionRef struct {
	Owner   string `json:"owner"`
	Version int64  `json:"version"`
}

// ExtensionStore keeps template extensions and every version of them.
type ExtensionStore interface {
	// SaveExtension stores e as version e.Version: a new extension at 1,
	// the next version of one at its current version + 1. ErrStale (or
	// ErrConflict for a second version 1) when the current version moved.
	SaveExtension(ctx context.Context, e TemplateExtension) error
	// Extensions returns the current extensions of template key owned by
	// any of owners (a unit's path), in no particular order.
	Extensions(ctx context.Context, key string, owners []string) ([]TemplateExtension, error)
	// ExtensionVersion returns one stored version; ErrNotFound otherwise.
	ExtensionVersion(ctx context.Context, key, owner string, version int64) (TemplateExtension, error)
}

// Merge returns t with the extensions applied in path order (a city's
// before its district's): options appended to their fields, fields after
// t's own. t is not changed.
func Merge(t Template, exts []TemplateExtension) Template {
	if len(exts) == 0 {
		return t
	}
	slices.SortFunc(exts, func(a, b TemplateExtension) int { return len(a.OwnerPath) - len(b.OwnerPath) })
	out := t
	out.Fields = slices.Clone(t.Fields)
	for i := range out.Fields {
		out.Fields[i].Options = slices.Clone(out.Fields[i].Options)
	}
	for _, e := range exts {
		for i := range out.Fields {
			f := &out.Fields[i]
			for _, o := range e.Options[f.Key] {
				if !hasOption(*f, o.Value) {
					f.Options = append(f.Options, o)
				}
			}
		}
		for _, f := range e.Fields {
			if _, ok := out.Field(f.Key); !ok {
				out.Fields = append(out.Fields, f)
			}
		}
		if e.Summary.ZH != "" {
			out.Summary = e.Summary
		}
	}
	return out
}

// extended returns the current version of template key as unit org sees
// it (merged with the current extensions of org's path) and the refs to
// pin.
func extended(ctx context.Context, exts ExtensionStore, t Template, org Org) (Template, []ExtensionRef, error) {
	if exts == nil || len(org.Path) == 0 {
		return t, nil, nil
	}
	list, err := exts.Extensions(ctx, t.Key, org.Path)
	if err != nil {
		return Template{}, nil, err
	}
	slices.SortFunc(list, func(a, b TemplateExtension) int { return len(a.OwnerPath) - len(b.OwnerPath) })
	var refs []ExtensionRef
	for _, e := range list {
		refs = append(refs, ExtensionRef{Owner: e.OwnerID, Version: e.Version})
	}
	return Merge(t, list), refs, nil
}

// pinned returns template version t merged with the extension versions
// refs pins.
func pinned(ctx context.Context, exts ExtensionStore, t Template, refs []ExtensionRef) (Template, error) {
	if len(refs) == 0 || exts == nil {
		return t, nil
	}
	list := make([]TemplateExtension, 0, len(refs))
	for _, ref := range refs {
		e, err := exts.ExtensionVersion(ctx, t.Key, ref.Owner, ref.Version)
		if err != nil {
			return Template{}, fmt.Errorf("extension %s of %s v%d: %w", t.Key, ref.Owner, ref.Version, err)
		}
		list = append(list, e)
	}
	return Merge(t, list), nil
}

// ExtensionInput is an extension as a bureau sends it: the whole of it
// (a new version replaces the last).
type ExtensionInput struct {
	Options map[string][]Option
	Fields  []TemplateField
	Summary TemplateSummary
}

// Limits on extensions.
const (
	maxExtensionFields  = 20
	maxExtensionOptions = 50
)

// Extension returns the extension the caller's unit has of template key.
func (s *Templates) Extension(ctx context.Context, p Principal, key string) (TemplateExtension, error) {
	const op = "templates.extension"
	if p.User.Role != RoleDistrictAdmin && p.User.Role != RoleCityAdmin {
		return TemplateExtension{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	if _, err := s.store.Template(ctx, ViewOf(p), key); err != nil {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	list, err := s.exts.Extensions(ctx, key, []string{p.User.OrgID})
	if err != nil {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(list) == 0 {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return list[0], nil
}

// Extend stores the caller's unit's extension of template key: version
// 0 creates it, otherwise the caller holds that version (If-Match).
// Options go to enum fields of the template; fields get keys the
// template (in any version) and the extensions above do not use. What an
// earlier version added may be dropped: records keep the version they
// were written against.
func (s *Templates) Extend(ctx context.Context, p Principal, key string, version int64, in ExtensionInput) (TemplateExtension, error) {
	const op = "templates.extend"
	if p.User.Role != RoleDistrictAdmin && p.User.Role != RoleCityAdmin {
		return TemplateExtension{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	base, err := s.store.Template(ctx, ViewOf(p), key)
	if err != nil {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	org, err := s.orgs.Org(ctx, p.Scope(), p.User.OrgID)
	if err != nil {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	// What the units above add is part of the definition this one extends.
	above, err := s.exts.Extensions(ctx, key, org.Path[:len(org.Path)-1])
	if err != nil {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	merged := Merge(base, above)
	types, err := s.fieldTypes(ctx, base)
	if err != nil {
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	var v Validation
	e := TemplateExtension{Template: key, OwnerID: org.ID, OwnerPath: org.Path, Options: map[string][]Option{},
		Version: version + 1, UpdatedBy: p.User.ID, UpdatedAt: s.now().UTC()}
	for _, fk := range sortedKeys(in.Options) {
		at := "options." + fk
		f, ok := merged.Field(fk)
		switch {
		case !ok:
			v.Add(at, "not_found")
			continue
		case f.Type != FieldEnum && f.Type != FieldMultiEnum:
			v.Add(at, "not_enum")
			continue
		case len(in.Options[fk]) > maxExtensionOptions:
			v.Add(at, "too_many", "max", maxExtensionOptions)
			continue
		}
		for i, o := range in.Options[fk] {
			o.Value, o.Label, o.LabelEN = CleanText(o.Value), CleanText(o.Label), CleanText(o.LabelEN)
			if o.Label == "" {
				o.Label = o.Value
			}
			oat := fmt.Sprintf("%s[%d]", at, i)
			switch {
			case o.Value == "":
				v.Add(oat+".value", "required")
			case len([]rune(o.Value)) > maxOptionValue:
				v.Add(oat+".value", "max_length", "max", maxOptionValue)
			case hasOption(f, o.Value) || slices.ContainsFunc(e.Options[fk], func(x Option) bool { return x.Value == o.Value }):
				v.Add(oat+".value", "duplicate")
			default:
				e.Options[fk] = append(e.Options[fk], o)
			}
		}
	}
	if len(in.Fields) > maxExtensionFields {
		v.Add("fields", "too_many", "max", maxExtensionFields)
	}
	for i, f := range in.Fields {
		at := fmt.Sprintf("fields[%d]", i)
		clean := checkField(&v, at, f)
		switch _, taken := merged.Field(f.Key); {
		case taken:
			v.Add(at+".key", "taken")
		case types[f.Key] != "" && types[f.Key] != f.Type:
			v.Add(at+".key", "taken")
		case slices.ContainsFunc(e.Fields, func(x TemplateField) bool { return x.Key == f.Key }):
			v.Add(at+".key", "duplicate")
		case f.Per != "":
			v.Add(at+".per", "not_allowed")
		}
		e.Fields = append(e.Fields, clean)
	}
	// The wording may name the fields this extension adds.
	e.Summary.ZH = CleanText(in.Summary.ZH)
	checkSummary(&v, Merge(merged, []TemplateExtension{e}), e.Summary.ZH)
	if err := v.Err(op); err != nil {
		return TemplateExtension{}, err
	}
	if err := s.exts.SaveExtension(ctx, e); err != nil {
		if errors.Is(err, ErrConflict) {
			err = ErrStale
		}
		if errors.Is(err, ErrStale) {
			return TemplateExtension{}, Fail(op, KindStale, "precondition_failed", err)
		}
		return TemplateExtension{}, fmt.Errorf("%s: %w", op, err)
	}
	ev := templateEvent(p, AuditTemplateExtended, base)
	ev.OrgPath, ev.Detail = org.Path, fmt.Sprintf("extension v%d", e.Version)
	s.audit.Record(ctx, ev)
	return e, nil
}

// For returns template key as the caller's unit sees it: merged with the
// extensions of its path, which it returns too (they are part of what a
// phone caches).
func (s *Templates) For(ctx context.Context, p Principal, key string) (Template, []ExtensionRef, error) {
	t, err := s.Get(ctx, p, key)
	if err != nil || p.User.OrgID == "" || s.exts == nil {
		return t, nil, err
	}
	org, err := s.orgs.Org(ctx, p.Scope(), p.User.OrgID)
	if err != nil {
		return Template{}, nil, fmt.Errorf("templates.get: %w", err)
	}
	return extended(ctx, s.exts, t, org)
}
