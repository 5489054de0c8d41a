package services

import (
	"encoding/json"
	"time"
)

// RecordStatus is where a record stands in review.
type RecordStatus string

// The statuses.
const (
	StatusDraft     RecordStatus = "draft"
	StatusSubmitted RecordStatus = "submitted"
	StatusApproved  RecordStatus = "approved"
	StatusReturned  RecordStatus = "returned"
	// StatusWithdrawn marks a soft-deleted record, kept for audit.
	StatusWithdrawn RecordStatus = "withdrawn"
)

// Valid reports whether s is a known status.
func (s RecordStatus) Valid() bool {
	switch s {
	case StatusDraft, StatusSubmitted, StatusApproved, StatusReturned, StatusWithdrawn:
		return true
	}
	return false
}

// Warning is a plausibility finding: not an error, shown to reviewers.
type Warning struct {
	Field string
	Code  string
	// Limit is the figure the value was compared with (a headcount).
	Limit float64
}

// Review is the latest review decision on a record.
type Review struct {
	By      string
	Role    Role
	At      time.Time
	Action  string // approve, return, reopen
	Comment string
}

// Record is one activity a school reports (活动记录).
type Record struct {
	ID string
	// ClientID is the UUID the phone made: (AuthorID, ClientID) is unique,
	// so a retried create finds the first record.
	ClientID        string
	Template        string
	TemplateVersion int64
	// Extensions pins the extensions of the template (a district's own
	// options and fields) the record was written against, city first.
	Extensions []ExtensionRef
	OrgID      string
	// OrgPath is the record's org path (ancestors, then the unit), copied
	// so records are scoped with one match.
	OrgPath    []string
	AuthorID   string
	AuthorRole Role
	// OccurredOn is the day the activity happened, or the first day of a
	// range ending on EndOn ("" for one day). Both YYYY-MM-DD.
	OccurredOn  string
	EndOn       string
	Title       string
	Description string
	// Data holds the template field values as one JSON object, written by
	// the service in canonical form; stores keep it as a document.
	Data json.RawMessage
	// Attachments lists the attachment ids the data refers to.
	Attachments []string
	Status      RecordStatus
	Warnings    []Warning
	Review      Review
	// SubmittedAt is when the record was first submitted for review (zero
	// while it is a draft); collection tasks judge timeliness by it.
	SubmittedAt time.Time
	// Rollup is what the record adds to totals, worked out by the service
	// on every write (RollupOf); stores move the totals from the stored
	// record's contribution to this one in the same write. Reads leave it
	// empty.
	Rollup Rollup
	// Hash fingerprints the content the client sent, so a retry with the
	// same client id can be told from a different record.
	Hash      string
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is set when the record was withdrawn.
	DeletedAt time.Time
}

// Change is one field that an edit changed.
type Change struct {
	Field  string
	Before any
	After  any
}

// RecordEvent is one entry of a record's audit history.
type RecordEvent struct {
	ID       string
	RecordID string
	// Version is the record version the event produced.
	Version   int64
	At        time.Time
	ActorID   string
	ActorRole Role
	// Action is create, edit, submit, approve, return, reopen or withdraw.
	Action  string
	Comment string
	Changes []Change
}

// RecordCursor is a keyset position in a record list.
type RecordCursor struct {
	// UpdatedAt is used only by sync lists (RecordQuery.Sync).
	UpdatedAt time.Time
	ID        string
}

// RecordQuery filters a list of records; every field is optional.
type RecordQuery struct {
	Template string
	Status   RecordStatus
	// OrgID narrows the list to one subtree inside the scope.
	OrgID    string
	AuthorID string
	// Statuses, when set, keeps records in any of these (Status must then
	// be empty).
	Statuses []RecordStatus
	// Data keeps records whose data holds these dimension values, "" for
	// a value left out (the drill-down of a totals row).
	Data map[string]string
	// From and To bound OccurredOn, inclusive (YYYY-MM-DD).
	From string
	To   string
	// Sync lists records changed after UpdatedSince, oldest change first
	// (UpdatedAt, then ID), withdrawn ones included as tombstones. Without
	// Sync the list is newest first by ID and leaves withdrawn records out.
	Sync         bool
	UpdatedSince time.Time
	// After is the position of the last item of the previous page.
	After RecordCursor
	Limit int
	// Bulk is a read of many records (an export's pages, a task's
	// counts; never set from a request): up to MaxBulkLimit records, each
	// with what those read (ID, author, template and its version, org and
	// path, occurred_on, title, data, attachments, status, reviewer and
	// review time, created and submitted times); a store may leave the
	// other fields zero.
	Bulk bool
}

// MaxBulkLimit bounds one bulk read of records.
const MaxBulkLimit = 1000

// PageLimit is how many records one read of q brings: Limit within
// 1..MaxLimit (DefaultLimit when unset), up to MaxBulkLimit for a bulk
// read.
func (q RecordQuery) PageLimit() int {
	if q.Bulk {
		return min(max(q.Limit, 1), MaxBulkLimit)
	}
	return Page{Limit: q.Limit}.Normalize().Limit
}

// Attachment is a file kept with records: a photo of the drill, a scanned
// certificate. Its bytes live in the store next to it.
type Attachment struct {
	ID string
	// ClientID makes uploads idempotent: (OwnerID, ClientID) is unique.
	ClientID    string
	OwnerID     string
	OrgID       string
	OrgPath     []string
	Name        string
	ContentType string
	Size        int64
	SHA256      string
	Width       int
	Height      int
	// ThumbSize is the size of the JPEG thumbnail, 0 when there is none.
	ThumbSize int64
	CreatedAt time.Time
}
