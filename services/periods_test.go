package services

import (
	"strings"
	"testing"
	"time"
)

func TestCalendarParse(t *testing.T) {
	late := Calendar{SpringTerm: time.March} // a district whose spring term starts in March
	tests := []struct {
		cal      Calendar
		id       string
		from, to string
		ok       bool
	}{
		{DefaultCalendar(), "2025", "2025-01-01", "2025-12-31", true},
		{DefaultCalendar(), "2024Q1", "2024-01-01", "2024-03-31", true},
		{DefaultCalendar(), "2025Q4", "2025-10-01", "2025-12-31", true},
		{DefaultCalendar(), "202402", "2024-02-01", "2024-02-29", true}, // leap year
		{DefaultCalendar(), "202502", "2025-02-01", "2025-02-28", true},
		{DefaultCalendar(), "202512", "2025-12-01", "2025-12-31", true},
		{DefaultCalendar(), "2025AY", "2025-09-01", "2026-08-31", true},
		{DefaultCalendar(), "2025AY-S1", "2025-09-01", "2026-01-31", true},
		{DefaultCalendar(), "2025AY-S2", "2026-02-01", "2026-08-31", true},
		{late, "2025AY-S1", "2025-09-01", "2026-02-28", true},
		{late, "2023AY-S1", "2023-09-01", "2024-02-29", true},
		{late, "2025AY-S2", "2026-03-01", "2026-08-31", true},
		{DefaultCalendar(), "", "", "", false},
		{DefaultCalendar(), "25", "", "", false},
		{DefaultCalendar(), "2025Q0", "", "", false},
		{DefaultCalendar(), "2025Q5", "", "", false},
		{DefaultCalendar(), "202513", "", "", false},
		{DefaultCalendar(), "202500", "", "", false},
		{DefaultCalendar(), "2025AY-S3", "", "", false},
		{DefaultCalendar(), "2025ay", "", "", false},
		{DefaultCalendar(), "1999", "", "", false},
		{DefaultCalendar(), "2101AY", "", "", false},
		{DefaultCalendar(), "２０２５", "", "", false},
		{DefaultCalendar(), "2025-03", "", "", false},
		{DefaultCalendar(), "2025W01", "", "", false},
	}
	for _, tt := range tests {
		p, ok := tt.cal.Parse(tt.id)
		if ok != tt.ok || p.From != tt.from || p.To != tt.to || (ok && p.ID != tt.id) {
			t.Errorf("Parse(%q) = %+v, %v; want %s..%s, %v", tt.id, p, ok, tt.from, tt.to, tt.ok)
		}
	}
}

func TestCalendarBucket(t *testing.T) {
	late := Calendar{SpringTerm: time.March}
	tests := []struct {
		cal   Calendar
		b     Bucket
		month string
		want  string
	}{
		{DefaultCalendar(), BucketMonth, "2025-03", "202503"},
		{DefaultCalendar(), BucketQuarter, "2025-03", "2025Q1"},
		{DefaultCalendar(), BucketQuarter, "2025-04", "2025Q2"},
		{DefaultCalendar(), BucketQuarter, "2025-12", "2025Q4"},
		{DefaultCalendar(), BucketYear, "2025-12", "2025"},
		// The school year turns on 1 September.
		{DefaultCalendar(), BucketSchoolYear, "2025-08", "2024AY"},
		{DefaultCalendar(), BucketSchoolYear, "2025-09", "2025AY"},
		{DefaultCalendar(), BucketSchoolYear, "2026-01", "2025AY"},
		// Semesters: January is still the first, February the second.
		{DefaultCalendar(), BucketSemester, "2025-09", "2025AY-S1"},
		{DefaultCalendar(), BucketSemester, "2026-01", "2025AY-S1"},
		{DefaultCalendar(), BucketSemester, "2026-02", "2025AY-S2"},
		{DefaultCalendar(), BucketSemester, "2026-08", "2025AY-S2"},
		{late, BucketSemester, "2026-02", "2025AY-S1"},
		{late, BucketSemester, "2026-03", "2025AY-S2"},
		{DefaultCalendar(), BucketMonth, "2025-3", ""},
		{DefaultCalendar(), "week", "2025-03", ""},
	}
	for _, tt := range tests {
		if got := tt.cal.Bucket(tt.b, tt.month); got != tt.want {
			t.Errorf("Bucket(%s, %s) = %q, want %q", tt.b, tt.month, got, tt.want)
		}
	}
	// Every month of a period buckets back into it.
	for id, kind := range map[string]Bucket{"2025": BucketYear, "2025Q3": BucketQuarter, "2025AY": BucketSchoolYear,
		"2025AY-S1": BucketSemester, "2025AY-S2": BucketSemester, "202511": BucketMonth} {
		p, _ := DefaultCalendar().Parse(id)
		for m, _ := time.Parse(dateLayout, p.From); m.Format(dateLayout) <= p.To; m = m.AddDate(0, 1, 0) {
			if got := DefaultCalendar().Bucket(kind, m.Format("2006-01")); got != id {
				t.Errorf("month %s of %s buckets as %s", m.Format("2006-01"), id, got)
			}
		}
	}
}

func TestSchoolYearOfUsesLocalDay(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// 31 Aug 2025 17:00 UTC is already 1 September in Shanghai.
	at := time.Date(2025, 8, 31, 17, 0, 0, 0, time.UTC)
	if got := DefaultCalendar().SchoolYearOf(at, shanghai).ID; got != "2025AY" {
		t.Errorf("Shanghai: %s, want 2025AY", got)
	}
	if got := DefaultCalendar().SchoolYearOf(at, time.UTC).ID; got != "2024AY" {
		t.Errorf("UTC: %s, want 2024AY", got)
	}
}

// FuzzPeriod: any string either is no period, or names a span of whole
// months, first day to last, whose months all bucket back into it.
func FuzzPeriod(f *testing.F) {
	for _, s := range []string{"2025", "2025Q1", "202503", "2025AY", "2025AY-S1", "2025AY-S2", "2025Q5", "２０２５", ""} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, id string, spring int) {
		cal := Calendar{SpringTerm: time.Month(spring)}
		if !cal.Valid() {
			return
		}
		p, ok := cal.Parse(id)
		if !ok {
			return
		}
		from, err1 := time.Parse(dateLayout, p.From)
		to, err2 := time.Parse(dateLayout, p.To)
		if err1 != nil || err2 != nil || to.Before(from) || from.Day() != 1 || to.AddDate(0, 0, 1).Day() != 1 || p.ID != id {
			t.Fatalf("Parse(%q) = %+v", id, p)
		}
		kind := BucketYear
		switch {
		case strings.Contains(id, "-S"):
			kind = BucketSemester
		case strings.HasSuffix(id, "AY"):
			kind = BucketSchoolYear
		case strings.Contains(id, "Q"):
			kind = BucketQuarter
		case len(id) == 6:
			kind = BucketMonth
		}
		for m := from; !m.After(to); m = m.AddDate(0, 1, 0) {
			if got := cal.Bucket(kind, m.Format("2006-01")); got != id {
				t.Fatalf("%s: month %s buckets as %q", id, m.Format("2006-01"), got)
			}
		}
	})
}

func TestCalendarPrevious(t *testing.T) {
	c := DefaultCalendar()
	for id, want := range map[string]string{
		"2025": "2024", "2025AY": "2024AY", "2025AY-S1": "2024AY-S1", "2025AY-S2": "2024AY-S2",
		"2026Q1": "2025Q4", "2025Q3": "2025Q2", "202503": "202502", "202601": "202512",
		"nonsense": "", "2000": "", "200001": "",
	} {
		p, ok := c.Previous(id)
		if ok != (want != "") || p.ID != want {
			t.Errorf("Previous(%q) = %q, %v; want %q", id, p.ID, ok, want)
		}
	}
	for _, tt := range []struct{ from, to, pf, pt string }{
		{"2025-09-01", "2026-08-31", "2024-09-01", "2025-08-31"},
		{"2024-02-29", "2024-02-29", "2023-02-28", "2023-02-28"},
		{"2025-03-10", "2025-04-20", "2024-03-10", "2024-04-20"},
		{"2025-01-01", "2025-02-28", "2024-01-01", "2024-02-29"}, // to the end of February
		{"2024-03-01", "2024-03-31", "2023-03-01", "2023-03-31"},
	} {
		pf, pt, ok := PreviousRange(tt.from, tt.to)
		if !ok || pf != tt.pf || pt != tt.pt {
			t.Errorf("PreviousRange(%s, %s) = %s, %s; want %s, %s", tt.from, tt.to, pf, pt, tt.pf, tt.pt)
		}
	}
}
