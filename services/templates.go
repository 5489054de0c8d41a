package services

import (
	"time"
)

// FieldType is the kind of value a template field holds.
type FieldType string

// The field types.
const (
	FieldInteger     FieldType = "integer"
	FieldNumber      FieldType = "number"
	FieldText        FieldType = "text"
	FieldEnum        FieldType = "enum"
	FieldMultiEnum   FieldType = "multi_enum"
	FieldDate        FieldType = "date"
	FieldBool        FieldType = "bool"
	FieldAttachments FieldType = "attachments"
	// FieldPeople holds user ids of staff of the record's unit (the
	// teachers trained, picked from GET /orgs/{id}/staff): totals count
	// them as distinct persons.
	FieldPeople FieldType = "people"
)

// Numeric reports whether values of t can be summed.
func (t FieldType) Numeric() bool { return t == FieldInteger || t == FieldNumber }

// FieldRole says what totals do with a field.
type FieldRole string

// The roles; a field without a role is kept but neither summed nor grouped.
const (
	RoleNone      FieldRole = ""
	RoleMeasure   FieldRole = "measure"   // numbers summed in totals
	RoleDimension FieldRole = "dimension" // enum values totals group by
	// RoleDistinct counts the distinct values of a text field over the
	// records (4项区级重点课题 over many schools' records of one project);
	// people fields are counted distinct whatever their role.
	RoleDistinct FieldRole = "distinct"
)

// Distinct reports whether totals count f's distinct values.
func (f TemplateField) Distinct() bool {
	return f.Type == FieldPeople || (f.Type == FieldText && f.Role == RoleDistinct)
}

// The plausibility checks a numeric field may ask for: a value above the
// school's headcount is a warning to the reviewer, not an error.
const (
	CheckStudents = "students"
	CheckStaff    = "staff"
)

// Limits on templates and the records written against them.
const (
	MaxTemplateFields   = 60
	MaxFieldOptions     = 100
	MaxTextLength       = 2000 // a text field without its own max_length
	MaxTitleLength      = 200
	MaxDescription      = 5000
	MaxAttachments      = 9 // per record, over all its attachment fields
	MaxBatchRecords     = 100
	MaxTemplateKeyBytes = 40
	// MaxPeople bounds a people field: the staff of a large school.
	MaxPeople = 1000
)

// Option is one value of an enum field.
type Option struct {
	Value   string
	Label   string
	LabelEN string
}

// TemplateField is one entry of a template.
type TemplateField struct {
	// Key names the value in a record's data: lower snake_case ASCII.
	Key       string
	Label     string
	LabelEN   string
	Type      FieldType
	Required  bool
	Unit      string
	Min       *float64
	Max       *float64
	MaxLength int
	Options   []Option
	Role      FieldRole
	// Default fills a missing numeric value (a drill record counts one
	// drill unless it says otherwise).
	Default *float64
	// Check names a plausibility check (CheckStudents, CheckStaff).
	Check string
	// Per names the occurrence measure the check divides by: 2 drills of
	// 2,360 participations at a 1,200-student school are 1,180 a drill,
	// plausible; "" compares the value itself.
	Per string
	// Aggregation says how totals combine a measure's values: summed
	// (AggregateSum, the default: activities), or as a stock (存量: each
	// school's latest value, summed over schools): AggregateLast takes
	// the latest within the period (enrolment, staff), AggregateState the
	// latest up to the period's end, from any earlier day (a title held
	// until a record withdraws it).
	Aggregation string
}

// The aggregations of a measure.
const (
	AggregateSum   = "sum"
	AggregateLast  = "last"
	AggregateState = "state"
)

// Stock reports whether f is a stock measure (last or state).
func (f TemplateField) Stock() bool {
	return f.Role == RoleMeasure && (f.Aggregation == AggregateLast || f.Aggregation == AggregateState)
}

// HasStock reports whether t has a stock measure.
func (t Template) HasStock() bool {
	for _, f := range t.Fields {
		if f.Stock() {
			return true
		}
	}
	return false
}

// Template is a report form (填报模板) at one version. Every change to a
// template stores a new version; records keep the version they were
// written against.
type Template struct {
	// Key is stable across versions and unique in the deployment.
	Key string
	// OwnerID is the org unit that defined the template; "" for the
	// built-in catalogue, which belongs to the whole deployment.
	OwnerID string
	// OwnerPath is the owner's org path (ancestors, then itself).
	OwnerPath []string
	Name      string
	NameEN    string
	Category  string
	// Levels are the kinds of org unit records may be filed for.
	Levels  []OrgKind
	Active  bool
	Builtin bool
	Fields  []TemplateField
	// Summary words the template's sentence in the work-summary draft.
	Summary TemplateSummary
	// Version counts every change, from 1; it is also the ETag.
	Version   int64
	CreatedBy string
	UpdatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Field returns the field with key k.
func (t Template) Field(k string) (TemplateField, bool) {
	for _, f := range t.Fields {
		if f.Key == k {
			return f, true
		}
	}
	return TemplateField{}, false
}

// TemplateView is where a caller stands when reading templates: the
// templates visible are the built-in ones, those owned by a unit on Path
// (the caller's own unit and its ancestors) and those owned by any unit
// inside Scope.
type TemplateView struct {
	Scope Scope
	Path  []string
}

// TemplateQuery filters a list of templates; every field is optional.
// Lists are in key order; After is a key.
type TemplateQuery struct {
	Category string
	// Active, when set, keeps only active (true) or inactive (false) ones.
	Active *bool
	Page
}
