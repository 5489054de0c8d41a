package services

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Period is a named span of days, both ends included (YYYY-MM-DD).
type Period struct {
	ID   string
	From string
	To   string
}

// Bucket is a kind of period rows of totals are grouped by.
type Bucket string

// The buckets, shortest first.
const (
	BucketMonth      Bucket = "month"
	BucketQuarter    Bucket = "quarter"
	BucketSemester   Bucket = "semester"
	BucketSchoolYear Bucket = "school_year"
	BucketYear       Bucket = "year"
)

// Calendar names periods the way integrators know them from DHIS2, with
// the school year added: 2025 (a year), 2025Q1, 202503 (a month), 2025AY
// (the school year starting 1 Sep 2025) and 2025AY-S1 / 2025AY-S2 (its
// semesters, 学期). Every period starts on the first of a month, so totals
// kept by month add up to any of them exactly.
type Calendar struct {
	// SpringTerm is the month the second semester starts (February unless
	// configured); the first runs from September to the month before.
	SpringTerm time.Month
}

// DefaultCalendar has semesters Sep 1 - Jan 31 and Feb 1 - Aug 31.
func DefaultCalendar() Calendar { return Calendar{SpringTerm: time.February} }

// Valid reports whether the spring term starts in a month other than
// September (which would leave the first semester empty).
func (c Calendar) Valid() bool {
	return c.SpringTerm >= time.January && c.SpringTerm <= time.December && c.SpringTerm != time.September
}

// Period years are kept within this range, like record dates.
const (
	minPeriodYear = 2000
	maxPeriodYear = 2100
)

// Parse returns the period id names; ok is false for anything else.
func (c Calendar) Parse(id string) (Period, bool) {
	year := func(s string) (int, bool) {
		if len(s) != 4 || !allDigits(s) {
			return 0, false
		}
		y, _ := strconv.Atoi(s)
		return y, y >= minPeriodYear && y <= maxPeriodYear
	}
	y, ok := year(id[:min(4, len(id))])
	if !ok {
		return Period{}, false
	}
	rest := id[4:]
	switch {
	case rest == "":
		return monthSpan(id, y, time.January, 12), true
	case len(rest) == 2 && rest[0] == 'Q' && rest[1] >= '1' && rest[1] <= '4':
		return monthSpan(id, y, time.Month(3*int(rest[1]-'1')+1), 3), true
	case len(rest) == 2 && allDigits(rest):
		m, _ := strconv.Atoi(rest)
		if m < 1 || m > 12 {
			return Period{}, false
		}
		return monthSpan(id, y, time.Month(m), 1), true
	case rest == "AY":
		return monthSpan(id, y, time.September, 12), true
	case rest == "AY-S1":
		return monthSpan(id, y, time.September, c.firstTermMonths()), true
	case rest == "AY-S2":
		n := c.firstTermMonths()
		return monthSpan(id, y, time.September+time.Month(n), 12-n), true
	}
	return Period{}, false
}

// firstTermMonths is how many months the first semester has.
func (c Calendar) firstTermMonths() int {
	return (int(c.SpringTerm) - int(time.September) + 12) % 12
}

// monthSpan is the period of n months from (y, m); m may run past
// December.
func monthSpan(id string, y int, m time.Month, n int) Period {
	start := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, n, -1)
	return Period{ID: id, From: start.Format(dateLayout), To: end.Format(dateLayout)}
}

// Bucket returns the id of the period of kind b that holds month
// ("YYYY-MM"), or "" when month is not one.
func (c Calendar) Bucket(b Bucket, month string) string {
	t, err := time.Parse("2006-01", month)
	if err != nil {
		return ""
	}
	y, m := t.Year(), t.Month()
	// The school year a month falls in starts in September.
	ay := y
	if m < time.September {
		ay--
	}
	switch b {
	case BucketMonth:
		return fmt.Sprintf("%04d%02d", y, int(m))
	case BucketQuarter:
		return fmt.Sprintf("%04dQ%d", y, (int(m)-1)/3+1)
	case BucketSemester:
		if (int(m)-int(time.September)+12)%12 < c.firstTermMonths() {
			return fmt.Sprintf("%04dAY-S1", ay)
		}
		return fmt.Sprintf("%04dAY-S2", ay)
	case BucketSchoolYear:
		return fmt.Sprintf("%04dAY", ay)
	case BucketYear:
		return fmt.Sprintf("%04d", y)
	}
	return ""
}

// Previous is the period a bureau compares id with (较上年, 环比): the
// year, school year or semester one year before (2024 for 2025, 2024AY-S1
// for 2025AY-S1), the quarter or month before (2025Q4 for 2026Q1, 202502
// for 202503).
func (c Calendar) Previous(id string) (Period, bool) {
	if _, ok := c.Parse(id); !ok {
		return Period{}, false
	}
	y, _ := strconv.Atoi(id[:4])
	rest := id[4:]
	switch {
	case len(rest) == 2 && rest[0] == 'Q':
		q := int(rest[1] - '0')
		if q == 1 {
			return c.Parse(fmt.Sprintf("%04dQ4", y-1))
		}
		return c.Parse(fmt.Sprintf("%04dQ%d", y, q-1))
	case len(rest) == 2 && allDigits(rest):
		m, _ := strconv.Atoi(rest)
		if m == 1 {
			return c.Parse(fmt.Sprintf("%04d12", y-1))
		}
		return c.Parse(fmt.Sprintf("%04d%02d", y, m-1))
	}
	return c.Parse(fmt.Sprintf("%04d%s", y-1, rest))
}

// PreviousRange is the days one year before from..to (YYYY-MM-DD, both
// included): a range ending on the last of a month ends on the last of
// that month a year before (29 Feb 2024 becomes 28 Feb 2023).
func PreviousRange(from, to string) (string, string, bool) {
	a, err1 := time.Parse(dateLayout, from)
	b, err2 := time.Parse(dateLayout, to)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	pa := time.Date(a.Year()-1, a.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, a.Day()-1)
	if pa.Month() != a.Month() { // 29 Feb
		pa = time.Date(a.Year()-1, a.Month()+1, 0, 0, 0, 0, 0, time.UTC)
	}
	endOfMonth := b.AddDate(0, 0, 1).Day() == 1
	pb := time.Date(b.Year()-1, b.Month()+1, 0, 0, 0, 0, 0, time.UTC) // last of the month
	if !endOfMonth && b.Day() < pb.Day() {
		pb = time.Date(b.Year()-1, b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	}
	return pa.Format(dateLayout), pb.Format(dateLayout), true
}

// SchoolYearOf is the school year (2025AY) that holds the day in loc at t.
func (c Calendar) SchoolYearOf(t time.Time, loc *time.Location) Period {
	p, _ := c.Parse(c.Bucket(BucketSchoolYear, t.In(loc).Format("2006-01")))
	return p
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// periodLabel names a period the way a bureau writes it.
func periodLabel(id string) string {
	y, rest := id[:4], id[4:]
	switch {
	case rest == "":
		return y + "年"
	case rest == "AY":
		return y + "学年"
	case rest == "AY-S1":
		return y + "学年第一学期"
	case rest == "AY-S2":
		return y + "学年第二学期"
	case strings.HasPrefix(rest, "Q"):
		return y + "年第" + rest[1:] + "季度"
	}
	m, _ := strconv.Atoi(rest)
	return fmt.Sprintf("%s年%d月", y, m)
}
