package services

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTaskJudge(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	s := NewTasks(nil, nil, nil, nil, time.Now, shanghai, DefaultCalendar())
	task := Task{DueOn: "2025-10-31", MinPerSchool: 2}
	school := Org{ID: "s1", Name: "一小", ParentID: "d1"}
	// The due day ends at midnight in Shanghai: 2025-10-31T16:00Z.
	before := time.Date(2025, 10, 31, 15, 59, 59, 0, time.UTC)
	after := time.Date(2025, 10, 31, 16, 0, 0, 0, time.UTC)
	early := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		c    *tally
		want SchoolProgress
	}{
		{"nothing", nil, SchoolProgress{SchoolID: "s1", SchoolName: "一小", DistrictID: "d1", Needed: 2}},
		{"one short", &tally{submitted: 1, returned: 3, times: []time.Time{early}},
			SchoolProgress{SchoolID: "s1", SchoolName: "一小", DistrictID: "d1", Submitted: 1, Returned: 3, Done: 1, Needed: 2}},
		{"on time at the last second", &tally{submitted: 1, approved: 1, times: []time.Time{before, early}},
			SchoolProgress{SchoolID: "s1", SchoolName: "一小", DistrictID: "d1", Submitted: 1, Approved: 1, Done: 2, Needed: 2,
				Complete: true, CompletedAt: before, OnTime: true}},
		{"late by a second", &tally{approved: 2, times: []time.Time{after, early}},
			SchoolProgress{SchoolID: "s1", SchoolName: "一小", DistrictID: "d1", Approved: 2, Done: 2, Needed: 2,
				Complete: true, CompletedAt: after}},
		// The second record is what completes the school; later ones do
		// not make it late.
		{"more than needed", &tally{submitted: 3, times: []time.Time{after, early, before}},
			SchoolProgress{SchoolID: "s1", SchoolName: "一小", DistrictID: "d1", Submitted: 3, Done: 3, Needed: 2,
				Complete: true, CompletedAt: before, OnTime: true}},
	}
	for _, tt := range tests {
		got := s.judge(task, school, tt.c)
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
}

// TestRates: task rates are fractions 0..1 with 4 decimals, as totals'
// rates are; no targets is 0.
func TestRates(t *testing.T) {
	tests := []struct {
		complete, onTime, targets int
		reporting, timeliness     float64
	}{
		{0, 0, 0, 0, 0}, {0, 0, 3, 0, 0}, {1, 1, 3, 0.3333, 0.3333}, {2, 1, 3, 0.6667, 0.3333}, {3, 3, 3, 1, 1},
		{1, 0, 8, 0.125, 0}, {199, 1, 200, 0.995, 0.005}, {1, 1, 7, 0.1429, 0.1429},
	}
	for _, tt := range tests {
		r := Rates{Complete: tt.complete, OnTime: tt.onTime, Targets: tt.targets}
		r.rates()
		if r.ReportingRate != tt.reporting || r.TimelinessRate != tt.timeliness {
			t.Errorf("rates(%d, %d of %d) = %v, %v, want %v, %v", tt.complete, tt.onTime, tt.targets,
				r.ReportingRate, r.TimelinessRate, tt.reporting, tt.timeliness)
		}
	}
}
