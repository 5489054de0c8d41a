package services

import (
	"time"
)

// OrgKind is a level of the organisation tree.
type OrgKind string

// The levels, top down.
const (
	OrgCity     OrgKind = "city"
	OrgDistrict OrgKind = "district"
	OrgSchool   OrgKind = "school"
)

// Valid reports whether k is a known level.
func (k OrgKind) Valid() bool {
	return k == OrgCity || k == OrgDistrict || k == OrgSchool
}

// ParentKind is the level a unit of kind k hangs under ("" for a city).
func (k OrgKind) ParentKind() OrgKind {
	switch k {
	case OrgDistrict:
		return OrgCity
	case OrgSchool:
		return OrgDistrict
	}
	return ""
}

// Stages a school may teach (学段).
var Stages = []string{"幼儿园", "小学", "初中", "高中", "九年一贯制", "完全中学", "职业学校", "特殊教育"}

// Org is one unit of the tree: a city bureau, a district bureau or a school.
type Org struct {
	ID       string
	Kind     OrgKind
	Name     string
	ParentID string
	// Path lists the unit's ancestors from the root down, then the unit
	// itself, so a subtree is one match on any element.
	Path []string
	// Code is a school's 10-digit national identifier (学校标识码), optional.
	Code      string
	Stages    []string
	Students  int
	Staff     int
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Ancestors returns the ids above the unit, root first.
func (o Org) Ancestors() []string {
	if len(o.Path) == 0 {
		return nil
	}
	return o.Path[:len(o.Path)-1]
}

// OrgQuery filters a list of org units; every field is optional.
type OrgQuery struct {
	ParentID string
	Kind     OrgKind
	Code     string
	Page
}
