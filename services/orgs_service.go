package services

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Orgs manages the organisation tree: who may add, change and remove
// cities, districts and schools, and what a valid unit is.
type Orgs struct {
	store OrgStore
	now   Clock
}

// NewOrgs returns the org service over store.
func NewOrgs(store OrgStore, now Clock) *Orgs {
	return &Orgs{store: store, now: now}
}

// OrgInput is what a caller may set on a unit. Nil pointers leave a field
// as it is on update.
type OrgInput struct {
	Kind     OrgKind
	Name     *string
	ParentID string
	Code     *string
	Stages   *[]string
	Students *int
	Staff    *int
}

// Limits on org fields.
const (
	maxOrgName   = 100
	maxHeadcount = 1_000_000
)

// Create adds a unit under a parent the caller can see. Cities are the
// roots and only a sysadmin adds them; a city admin adds districts and
// schools below the city; a district admin adds schools.
func (s *Orgs) Create(ctx context.Context, p Principal, in OrgInput) (Org, error) {
	const op = "orgs.create"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Org{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	var v Validation
	if !in.Kind.Valid() {
		v.Add("kind", "enum", "options", "city, district, school")
	}
	o := Org{Kind: in.Kind}
	applyOrgInput(&o, in)
	validateOrg(&v, o)
	var parent Org
	switch {
	case !in.Kind.Valid():
	case in.Kind == OrgCity:
		if in.ParentID != "" {
			v.Add("parent_id", "not_allowed")
		} else if p.User.Role != RoleSysadmin {
			return Org{}, Fail(op, KindForbidden, "forbidden", nil)
		}
	case in.ParentID == "":
		v.Add("parent_id", "required")
	default:
		var err error
		parent, err = s.store.Org(ctx, p.Scope(), in.ParentID)
		switch {
		case errors.Is(err, ErrNotFound):
			v.Add("parent_id", "not_found")
		case err != nil:
			return Org{}, fmt.Errorf("%s: %w", op, err)
		case parent.Kind != in.Kind.ParentKind():
			v.Add("parent_id", "parent_kind", "kind", string(in.Kind.ParentKind()))
		}
	}
	if err := v.Err(op); err != nil {
		return Org{}, err
	}
	now := s.now().UTC()
	o.ID = NewID(now)
	o.ParentID = in.ParentID
	o.Path = append(slices.Clone(parent.Path), o.ID)
	o.Version = 1
	o.CreatedAt, o.UpdatedAt = now, now
	if err := s.store.CreateOrg(ctx, o); err != nil {
		if errors.Is(err, ErrConflict) {
			return Org{}, Invalid(op, Field("code", "taken"))
		}
		return Org{}, fmt.Errorf("%s: %w", op, err)
	}
	return o, nil
}

// Get returns a unit the caller can see.
func (s *Orgs) Get(ctx context.Context, p Principal, id string) (Org, error) {
	o, err := s.store.Org(ctx, p.Scope(), id)
	if err != nil {
		return Org{}, fmt.Errorf("orgs.get: %w", err)
	}
	return o, nil
}

// List returns one page of the units the caller can see.
func (s *Orgs) List(ctx context.Context, p Principal, q OrgQuery) ([]Org, error) {
	q.Page = q.Page.Normalize()
	orgs, err := s.store.Orgs(ctx, p.Scope(), q)
	if err != nil {
		return nil, fmt.Errorf("orgs.list: %w", err)
	}
	return orgs, nil
}

// Count counts the units the caller can see that match q.
func (s *Orgs) Count(ctx context.Context, p Principal, q OrgQuery) (int64, error) {
	n, err := s.store.CountOrgs(ctx, p.Scope(), q)
	if err != nil {
		return 0, fmt.Errorf("orgs.count: %w", err)
	}
	return n, nil
}

// Update changes a unit's name, code, stages and headcounts at the version
// the caller holds. Kind and parent never change.
func (s *Orgs) Update(ctx context.Context, p Principal, id string, version int64, in OrgInput) (Org, error) {
	const op = "orgs.update"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Org{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	o, err := s.store.Org(ctx, p.Scope(), id)
	if err != nil {
		return Org{}, fmt.Errorf("%s: %w", op, err)
	}
	if o.Version != version {
		return Org{}, Fail(op, KindStale, "precondition_failed", ErrStale)
	}
	var v Validation
	if in.Kind != "" && in.Kind != o.Kind {
		v.Add("kind", "immutable")
	}
	if in.ParentID != "" && in.ParentID != o.ParentID {
		v.Add("parent_id", "immutable")
	}
	applyOrgInput(&o, in)
	validateOrg(&v, o)
	if err := v.Err(op); err != nil {
		return Org{}, err
	}
	o.UpdatedAt = s.now().UTC()
	updated, err := s.store.UpdateOrg(ctx, p.Scope(), o)
	if errors.Is(err, ErrConflict) {
		return Org{}, Invalid(op, Field("code", "taken"))
	}
	if err != nil {
		return Org{}, fmt.Errorf("%s: %w", op, err)
	}
	return updated, nil
}

// Delete removes an empty unit (no child units, no users) at the version
// the caller holds. Nobody deletes the unit they belong to.
func (s *Orgs) Delete(ctx context.Context, p Principal, id string, version int64) error {
	const op = "orgs.delete"
	if p.User.Role.Rank() < RoleDistrictAdmin.Rank() {
		return Fail(op, KindForbidden, "forbidden", nil)
	}
	if id == p.User.OrgID {
		return Fail(op, KindForbidden, "forbidden", nil)
	}
	err := s.store.DeleteOrg(ctx, p.Scope(), id, version)
	if errors.Is(err, ErrConflict) {
		return Fail(op, KindConflict, "org_not_empty", err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// OrgNode is a unit with its children, for the tree view.
type OrgNode struct {
	Org      Org
	Children []*OrgNode
}

// maxTreeNodes bounds the tree view; a city with every school fits well.
const maxTreeNodes = 20_000

// Tree returns the subtree the caller can see, rooted at rootID (or at the
// caller's own unit; a sysadmin without one gets every city).
func (s *Orgs) Tree(ctx context.Context, p Principal, rootID string) ([]*OrgNode, error) {
	const op = "orgs.tree"
	scope := p.Scope()
	if rootID != "" {
		if _, err := s.store.Org(ctx, scope, rootID); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		scope = ScopeOrg(rootID)
	}
	nodes := map[string]*OrgNode{}
	var all []*OrgNode
	page := Page{Limit: MaxLimit}
	for {
		orgs, err := s.store.Orgs(ctx, scope, OrgQuery{Page: page})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		for _, o := range orgs {
			n := &OrgNode{Org: o}
			nodes[o.ID] = n
			all = append(all, n)
		}
		if len(orgs) < page.Limit || len(all) >= maxTreeNodes {
			break
		}
		page.After = orgs[len(orgs)-1].ID
	}
	var roots []*OrgNode
	for _, n := range all {
		if parent, ok := nodes[n.Org.ParentID]; ok {
			parent.Children = append(parent.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return roots, nil
}

func applyOrgInput(o *Org, in OrgInput) {
	if in.Name != nil {
		o.Name = CleanText(*in.Name)
	}
	if in.Code != nil {
		o.Code = CleanText(*in.Code)
	}
	if in.Stages != nil {
		o.Stages = make([]string, 0, len(*in.Stages))
		for _, st := range *in.Stages {
			o.Stages = append(o.Stages, CleanText(st))
		}
	}
	if in.Students != nil {
		o.Students = *in.Students
	}
	if in.Staff != nil {
		o.Staff = *in.Staff
	}
}

func validateOrg(v *Validation, o Org) {
	checkText(v, "name", o.Name, true, maxOrgName)
	school := o.Kind == OrgSchool
	if o.Code != "" {
		if !school {
			v.Add("code", "schools_only")
		} else if !isSchoolCode(o.Code) {
			v.Add("code", "school_code")
		}
	}
	if len(o.Stages) > 0 && !school {
		v.Add("stages", "schools_only")
	}
	seen := map[string]bool{}
	for i, st := range o.Stages {
		field := fmt.Sprintf("stages[%d]", i)
		switch {
		case !slices.Contains(Stages, st):
			v.Add(field, "enum", "options", fmt.Sprint(Stages))
		case seen[st]:
			v.Add(field, "duplicate")
		}
		seen[st] = true
	}
	for _, c := range []struct {
		field string
		n     int
	}{{"students", o.Students}, {"staff", o.Staff}} {
		if c.n < 0 {
			v.Add(c.field, "min", "min", 0)
		} else if c.n > maxHeadcount {
			v.Add(c.field, "max", "max", maxHeadcount)
		}
		if c.n != 0 && !school {
			v.Add(c.field, "schools_only")
		}
	}
}

// isSchoolCode reports whether s is a 10-digit national school code.
func isSchoolCode(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// eachSchool calls fn with every school under orgID in id order until it
// returns false.
func eachSchool(ctx context.Context, orgs OrgStore, orgID string, fn func(Org) bool) error {
	q := OrgQuery{Kind: OrgSchool, Page: Page{Limit: MaxLimit}}
	for {
		list, err := orgs.Orgs(ctx, ScopeOrg(orgID), q)
		if err != nil {
			return err
		}
		for _, o := range list {
			if !fn(o) {
				return nil
			}
		}
		if len(list) < q.Limit {
			return nil
		}
		q.After = list[len(list)-1].ID
	}
}
