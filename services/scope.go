package services

// Scope is the part of the organisation tree a query may touch. Every
// user-facing store method takes one; the stores turn it into one indexed
// match on the ancestor path. The zero Scope matches nothing.
type Scope struct {
	// All is true for system administrators: the whole tree.
	All bool
	// OrgID is the root of the subtree the caller may see.
	OrgID string
	// AuthorID, when set, further limits records and attachments to the
	// ones this user wrote (a teacher's view). Stores of other objects
	// ignore it.
	AuthorID string
	// District, when set, is the district the whole subtree lies in (the
	// second id of its root's path). It narrows nothing the subtree does
	// not (an org never changes parent); a sharded store routes on it
	// (docs/sharding.md). Empty for the whole tree or a city.
	District string
}

// DistrictOf is the district an object with org path path belongs to: the
// path's second id, "" for the city itself (or no path).
func DistrictOf(path []string) string {
	if len(path) < 2 {
		return ""
	}
	return path[1]
}

// ScopeAll is the scope of a system administrator.
func ScopeAll() Scope { return Scope{All: true} }

// ScopeOrg limits a query to the subtree rooted at orgID.
func ScopeOrg(orgID string) Scope { return Scope{OrgID: orgID} }

// Empty reports whether the scope matches nothing.
func (s Scope) Empty() bool { return !s.All && s.OrgID == "" }

// Covers reports whether an object whose org path (ancestors then itself) is
// path lies inside the scope.
func (s Scope) Covers(path []string) bool {
	if s.All {
		return true
	}
	if s.OrgID == "" {
		return false
	}
	for _, id := range path {
		if id == s.OrgID {
			return true
		}
	}
	return false
}

// Page asks for one page of a keyset-paginated list: items whose id comes
// after After, at most Limit of them.
type Page struct {
	After string
	Limit int
}

// Page sizes.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Normalize clamps Limit into [1, MaxLimit].
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultLimit
	}
	if p.Limit > MaxLimit {
		p.Limit = MaxLimit
	}
	return p
}
