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

func TestPercent(t *testing.T) {
	tests := []struct {
		n, total int
		want     float64
	}{
		{0, 0, 0}, {0, 3, 0}, {1, 3, 33.3}, {2, 3, 66.7}, {3, 3, 100}, {1, 8, 12.5}, {199, 200, 99.5},
	}
	for _, tt := range tests {
		if got := percent(tt.n, tt.total); got != tt.want {
			t.Errorf("percent(%d, %d) = %v, want %v", tt.n, tt.total, got, tt.want)
		}
	}
}
