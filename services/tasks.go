package services

import "time"

// Task is a collection task (填报任务): a bureau asks its schools to file
// records of some templates for a period by a due date.
type Task struct {
	ID        string
	Name      string
	Templates []string
	// Period is the period id (2025Q1, 2025AY-S1 ...); From and To are its
	// days, both included: records count when OccurredOn lies inside.
	Period string
	From   string
	To     string
	// OrgID is the bureau (city or district) the task belongs to; OrgPath
	// its path, so tasks are scoped like everything else.
	OrgID   string
	OrgPath []string
	// Stages are the stages the targets were chosen by, if any.
	Stages []string
	// SchoolIDs are the target schools, resolved when the task is created.
	SchoolIDs []string
	// DueOn is the last day to file (YYYY-MM-DD, in the deployment's zone).
	DueOn string
	// MinPerSchool is how many submitted or approved records make a school
	// complete.
	MinPerSchool int
	Note         string
	CreatedBy    string
	CreatedAt    time.Time
	Version      int64
}

// Limits on tasks. A city of ten districts of ~200 schools each
// (CATALOGUE.md) fits in MaxTaskTargets.
const (
	MaxTaskTargets   = 2000
	MaxTaskTemplates = 20
	MaxTaskName      = 200
	MaxTaskNote      = 2000
	MaxMinPerSchool  = 1000
)

// TaskInput is a new task as a client sends it.
type TaskInput struct {
	Name      string
	Templates []string
	Period    string
	OrgID     string
	Stages    []string
	SchoolIDs []string
	DueOn     string
	// MinPerSchool is 1 when nil.
	MinPerSchool *int
	Note         string
}

// SchoolProgress is where one target school stands on a task.
type SchoolProgress struct {
	SchoolID   string
	SchoolName string
	// DistrictID is the school's parent unit ("" when the school is gone).
	DistrictID string
	Submitted  int
	Approved   int
	Returned   int
	// Done counts submitted and approved records; Needed is the task's
	// MinPerSchool.
	Done     int
	Needed   int
	Complete bool
	// CompletedAt is when the school's Needed-th counted record was
	// submitted (zero while incomplete); OnTime when that was by the end
	// of the due day.
	CompletedAt time.Time
	OnTime      bool
}

// Rates sums up a group of target schools: DHIS2's reporting rate
// (complete / targets) and timeliness (complete by the due date /
// targets), as fractions 0..1 rounded to 4 decimals, like every rate.
type Rates struct {
	OrgID          string
	OrgName        string
	Targets        int
	Complete       int
	OnTime         int
	ReportingRate  float64
	TimelinessRate float64
}

// TaskProgress is a task's progress computed live from records.
type TaskProgress struct {
	Task Task
	// AsOf is when it was computed.
	AsOf time.Time
	// Overdue is set once the due day has passed.
	Overdue   bool
	Total     Rates
	Districts []Rates
	// Schools are in school id order.
	Schools []SchoolProgress
}

// MyTask is a task as a school sees it: what is due and what is done.
type MyTask struct {
	Task     Task
	Progress SchoolProgress
	// Overdue is set when the due day has passed and the school is not
	// complete.
	Overdue bool
}
