package services

import "time"

// Role is what a user may do; roles are ordered by reach.
type Role string

// The roles, from least to most reach.
const (
	RoleTeacher       Role = "teacher"
	RolePrincipal     Role = "principal"
	RoleDistrictAdmin Role = "district_admin"
	RoleCityAdmin     Role = "city_admin"
	RoleSysadmin      Role = "sysadmin"
)

// Rank orders roles: a higher rank reaches further. Unknown roles rank 0.
func (r Role) Rank() int {
	switch r {
	case RoleTeacher:
		return 1
	case RolePrincipal:
		return 2
	case RoleDistrictAdmin:
		return 3
	case RoleCityAdmin:
		return 4
	case RoleSysadmin:
		return 5
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.Rank() > 0 }

// OrgKind is the level of unit a user of this role belongs to ("" for a
// sysadmin, who may belong anywhere or nowhere).
func (r Role) OrgKind() OrgKind {
	switch r {
	case RoleTeacher, RolePrincipal:
		return OrgSchool
	case RoleDistrictAdmin:
		return OrgDistrict
	case RoleCityAdmin:
		return OrgCity
	}
	return ""
}

// User is a person who signs in.
type User struct {
	ID       string
	Username string
	Name     string
	Mobile   string
	Role     Role
	OrgID    string
	// OrgPath is the path of the user's org unit (its ancestors, then
	// itself), copied so users can be scoped with one match.
	OrgPath      []string
	PasswordHash string
	// MustChangePassword is set for accounts an admin created or imported.
	MustChangePassword bool
	Disabled           bool
	// PasswordChangedAt invalidates access tokens issued before it.
	PasswordChangedAt time.Time
	Version           int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// UserQuery filters a list of users; every field is optional.
type UserQuery struct {
	OrgID string
	Role  Role
	Page
}
