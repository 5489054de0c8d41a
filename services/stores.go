package services

import (
	"context"
	"time"
)

// OrgStore keeps the organisation tree.
type OrgStore interface {
	// CreateOrg inserts o; ErrConflict if the id or school code is taken.
	CreateOrg(ctx context.Context, o Org) error
	// Org returns the unit id inside s; ErrNotFound otherwise.
	Org(ctx context.Context, s Scope, id string) (Org, error)
	// Orgs lists units inside s in id order.
	Orgs(ctx context.Context, s Scope, q OrgQuery) ([]Org, error)
	// CountOrgs counts the units inside s that match q (its page ignored).
	CountOrgs(ctx context.Context, s Scope, q OrgQuery) (int64, error)
	// UpdateOrg replaces the mutable fields of the unit o.ID if it lies
	// inside s and its version is still o.Version; it returns the stored
	// unit with the next version. ErrStale when the version moved on.
	UpdateOrg(ctx context.Context, s Scope, o Org) (Org, error)
	// DeleteOrg removes a unit at version; ErrConflict while it has child
	// units or users.
	DeleteOrg(ctx context.Context, s Scope, id string, version int64) error
}

// UserStore keeps user accounts.
type UserStore interface {
	// CreateUsers inserts all of users or none of them; ErrConflict if a
	// username or mobile number is taken.
	CreateUsers(ctx context.Context, users []User) error
	// User returns the user id inside s.
	User(ctx context.Context, s Scope, id string) (User, error)
	// Users lists users inside s in id order.
	Users(ctx context.Context, s Scope, q UserQuery) ([]User, error)
	// UserByLogin finds a user by username or mobile number, unscoped: only
	// sign-in uses it.
	UserByLogin(ctx context.Context, login string) (User, error)
	// UpdateUser replaces the mutable fields of u.ID inside s at version
	// u.Version and returns the stored user with the next version.
	UpdateUser(ctx context.Context, s Scope, u User) (User, error)
	// CountUsers counts the users inside s that match q (its page
	// ignored); ScopeAll and an empty query count every account.
	CountUsers(ctx context.Context, s Scope, q UserQuery) (int64, error)
}

// SessionStore keeps device sessions and their refresh-token hashes.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, id string) (Session, error)
	// RotateSession applies r if the session is still at generation;
	// ErrStale otherwise.
	RotateSession(ctx context.Context, id string, generation int64, r Rotation) error
	// RevokeSession marks one session revoked; revoking twice is fine.
	RevokeSession(ctx context.Context, userID, id string, at time.Time) error
	// RevokeUserSessions revokes every session of a user but except.
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error
	// UserSessions lists a user's active sessions at now, newest first.
	UserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// DeleteSessions removes sessions that expired or were revoked before.
	DeleteSessions(ctx context.Context, before time.Time) (int64, error)
}

// KeyStore keeps the token signing keys shared by every instance.
type KeyStore interface {
	// CreateKey inserts k; ErrConflict if its id exists.
	CreateKey(ctx context.Context, k SigningKey) error
	// Keys lists every key, newest first.
	Keys(ctx context.Context) ([]SigningKey, error)
	// RetireKey marks a key retired at the given time.
	RetireKey(ctx context.Context, id string, at time.Time) error
}

// TemplateStore keeps report templates and every version of them.
type TemplateStore interface {
	// CreateTemplate inserts t (its Version is 1) and stores that version;
	// ErrConflict if the key is taken.
	CreateTemplate(ctx context.Context, t Template) error
	// Template returns the current version of key if v may see it.
	Template(ctx context.Context, v TemplateView, key string) (Template, error)
	// TemplateVersion returns one stored version of key. It is unscoped:
	// callers reach it through a record or template they already read
	// within scope.
	TemplateVersion(ctx context.Context, key string, version int64) (Template, error)
	// Templates lists the current versions v may see, in key order.
	Templates(ctx context.Context, v TemplateView, q TemplateQuery) ([]Template, error)
	// UpdateTemplate stores t as version t.Version+1 if the current version
	// is still t.Version and v may see it, and returns what it stored.
	// ErrStale when the version moved on.
	UpdateTemplate(ctx context.Context, v TemplateView, t Template) (Template, error)
}

// RecordStore keeps records and their audit history. Scope.AuthorID, when
// set, limits every method to the records that user wrote.
type RecordStore interface {
	// CreateRecord inserts r and its first history event together;
	// ErrConflict if (r.AuthorID, r.ClientID) or r.ID exists.
	CreateRecord(ctx context.Context, r Record, ev RecordEvent) error
	// Record returns the record id inside s, withdrawn or not.
	Record(ctx context.Context, s Scope, id string) (Record, error)
	// RecordByClientID returns the record authorID created with clientID.
	RecordByClientID(ctx context.Context, s Scope, authorID, clientID string) (Record, error)
	// Records lists records inside s that match q.
	Records(ctx context.Context, s Scope, q RecordQuery) ([]Record, error)
	// UpdateRecord stores r as version r.Version+1 if the record lies
	// inside s and is still at r.Version, appends ev to its history in the
	// same write, and returns the stored record. ErrStale otherwise.
	UpdateRecord(ctx context.Context, s Scope, r Record, ev RecordEvent) (Record, error)
	// RecordHistory lists the events of a record inside s in version
	// order, those after afterVersion, at most limit (Page limits apply).
	// A record outside s is ErrNotFound.
	RecordHistory(ctx context.Context, s Scope, id string, afterVersion int64, limit int) ([]RecordEvent, error)
}

// TotalsStore keeps the pre-aggregated totals records roll up into. The
// record store maintains them: CreateRecord and UpdateRecord move the
// totals from a record's stored contribution to r.Rollup exactly once,
// whatever crashes or concurrent writers do.
type TotalsStore interface {
	// Cells sums the non-empty cells of kind q.Dim that lie under
	// q.OrgPath, inside s, and match q, into groups as q asks, and calls
	// fn with each group (in no particular order). ErrNotFound when
	// q.OrgPath is outside s.
	Cells(ctx context.Context, s Scope, q CellQuery, fn func(CellGroup) error) error
	// ReconcileTotals works out the cells of the records filed for unit
	// orgID itself (not its subtree) from those records, with rollup giving
	// each record's contribution, and compares them with the stored cells
	// of orgID. With fix it makes the stored ones right. It returns the
	// cells that differed (Got is what was stored).
	ReconcileTotals(ctx context.Context, orgID string, rollup func(Record) (Rollup, error), fix bool) ([]CellDrift, error)
	// FinishTotals completes roll-up work that a crash left unfinished on
	// records last written before `before`, and returns how many records
	// it finished. Stores that update totals in the record's transaction
	// never leave any.
	FinishTotals(ctx context.Context, before time.Time) (int, error)
}

// CellQuery selects cells; Templates and Statuses empty mean all.
type CellQuery struct {
	OrgPath   []string
	Templates []string
	Statuses  []RecordStatus
	// FromMonth and ToMonth bound Month, inclusive (YYYY-MM).
	FromMonth string
	ToMonth   string
	Dim       string
	// What cells are kept apart; everything else is summed over.
	ByOrg      OrgGrouping
	ByTemplate bool
	// ByMonth keeps months apart, each under Buckets[month] when the
	// map has it (a quarter, a semester...), else under the month itself.
	ByMonth bool
	Buckets map[string]string
	ByValue bool
}

// OrgGrouping says how cells of different units are grouped.
type OrgGrouping int

// The org groupings.
const (
	// OrgTogether sums every unit under the path.
	OrgTogether OrgGrouping = iota
	// OrgChild keeps apart the child units of the path's unit (the
	// unit's own records under the unit itself).
	OrgChild
	// OrgLeaf keeps apart the units records were filed for.
	OrgLeaf
)

// CellGroup is a sum of cells.
type CellGroup struct {
	// OrgID is the group's unit ("" with OrgTogether); with OrgLeaf,
	// OrgPath is its path and School tells whether it is a school.
	OrgID    string
	OrgPath  []string
	School   bool
	Template string
	// Bucket is the month, or its bucket, with ByMonth.
	Bucket string
	Value  string
	Count  int64
	// Sums are in MeasureScale units.
	Sums map[string]int64
	// Schools counts the distinct schools among the cells, Values the
	// distinct values (the authors of DimAuthor cells).
	Schools int
	Values  int
}

// CellDrift is a cell whose stored total differs from the records.
type CellDrift struct {
	Want Cell
	Got  Cell
}

// AttachmentStore keeps uploaded files with their metadata. Scope.AuthorID,
// when set, limits it to the files that user uploaded.
type AttachmentStore interface {
	// CreateAttachment stores a with its content and thumbnail (nil when
	// there is none); ErrConflict if (a.OwnerID, a.ClientID) or a.ID exists.
	CreateAttachment(ctx context.Context, a Attachment, content, thumb []byte) error
	// Attachment returns the metadata of id inside s.
	Attachment(ctx context.Context, s Scope, id string) (Attachment, error)
	// AttachmentByClientID returns what ownerID uploaded as clientID.
	AttachmentByClientID(ctx context.Context, s Scope, ownerID, clientID string) (Attachment, error)
	// AttachmentContent returns the bytes of id inside s: the thumbnail if
	// thumb is set (ErrNotFound when it has none).
	AttachmentContent(ctx context.Context, s Scope, id string, thumb bool) (Attachment, []byte, error)
	// AttachmentBytes is what ownerID keeps stored: the sizes of every
	// upload and its thumbnail, summed (the storage quota counts them).
	AttachmentBytes(ctx context.Context, ownerID string) (int64, error)
}

// TaskStore keeps collection tasks. A task is inside a Scope when the
// scope covers its OrgPath, or when the scope's unit is one of its target
// schools (so a school sees the tasks asking something of it).
type TaskStore interface {
	// CreateTask inserts t; ErrConflict if its id exists.
	CreateTask(ctx context.Context, t Task) error
	// Task returns the task id inside s.
	Task(ctx context.Context, s Scope, id string) (Task, error)
	// Tasks lists the tasks whose OrgPath s covers, newest first (ID
	// descending; keyset on ID < p.After).
	Tasks(ctx context.Context, s Scope, p Page) ([]Task, error)
	// TasksForSchool lists the tasks targeting schoolID that are due on
	// or after dueFrom (YYYY-MM-DD; "" for any), newest first like Tasks.
	TasksForSchool(ctx context.Context, schoolID, dueFrom string, p Page) ([]Task, error)
}
