package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// The totals benchmark: a city's worth of records (1,000,000 approved
// records by default; HUIZONG_BENCH_RECORDS changes it) across 1 city,
// 5 districts, 200 schools, the 12 built-in templates and 3 school years,
// then a district's school-year totals asked two ways, from the
// pre-aggregated cells (the product) and by a GROUP BY over the records:
//
//	go test -run '^$' -bench Totals -benchtime 200x ./repository/sqlite/
//
// The store is built once (a few minutes, by Store.LoadSynthetic) and kept
// in the system temp dir for later runs; delete huizong-bench-* there to
// rebuild. The export benchmark of cmd/huizong reads the same store.

const benchYear = "2024AY"

// benchStore opens (building it the first time) the benchmark store.
func benchStore(b *testing.B) (*Store, []services.Org) {
	b.Helper()
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("HUIZONG_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("huizong-bench-%d-v4", n))
	ctx := context.Background()
	fresh := false
	if _, err := os.Stat(filepath.Join(dir, "loaded")); err != nil {
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		fresh = true
	}
	s, err := Open(ctx, dir, Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if fresh {
		start := time.Now()
		if err := s.LoadSynthetic(ctx, n); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "loaded"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d records in %s", n, time.Since(start).Round(time.Second))
	}
	var districts []services.Org
	list, err := s.Orgs(ctx, services.ScopeAll(), services.OrgQuery{Kind: services.OrgDistrict})
	if err != nil {
		b.Fatal(err)
	}
	districts = append(districts, list...)
	return s, districts
}

// benchQueries are the questions the issues ask about: two sum queries
// over every template, distinct people (teachers trained, by school) and
// stocks (each school's latest profile, by school). Only the sum queries
// have a GROUP BY counterpart over the records.
var benchQueries = []struct {
	name      string
	groupBy   []string
	templates []string
}{
	{"school_x_template", []string{services.GroupOrg, services.GroupTemplate}, nil},
	{"template_x_kind_x_month", []string{services.GroupTemplate, "kind", string(services.BucketMonth)}, nil},
	{"people_by_school", []string{services.GroupOrg}, []string{"teacher_training"}},
	{"stock_by_school", []string{services.GroupOrg}, []string{"school_profile"}},
}

// rawGroupBy answers the same question from the records: a GROUP BY over
// the district's approved records of the school year, with the count, the
// sum of every measure and the schools behind each row.
func rawGroupBy(ctx context.Context, s *Store, district, from, to string, groupBy []string, measures []string) (int, error) {
	var keys []string
	for _, g := range groupBy {
		switch g {
		case services.GroupOrg:
			keys = append(keys, "r.org_id")
		case services.GroupTemplate:
			keys = append(keys, "r.template")
		case string(services.BucketMonth):
			keys = append(keys, "substr(r.occurred_on, 1, 7)")
		default:
			keys = append(keys, "json_extract(r.data, '$."+g+"')")
		}
	}
	cols := []string{"COUNT(*)", "COUNT(DISTINCT r.org_id)"}
	for _, m := range measures {
		cols = append(cols, "SUM(json_extract(r.data, '$."+m+"'))")
	}
	where := ""
	if slices.Contains(groupBy, "kind") {
		where = " AND json_extract(r.data, '$.kind') IS NOT NULL"
	}
	q := `SELECT ` + strings.Join(append(slices.Clone(keys), cols...), ", ") + ` FROM record_scope a
		CROSS JOIN records r ON r.id = a.record_id WHERE a.ancestor_id = ? AND r.status = 'approved'
		AND r.occurred_on BETWEEN ? AND ?` + where + ` GROUP BY ` + strings.Join(keys, ", ")
	rows, err := s.r.QueryContext(ctx, q, district, from, to)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func BenchmarkTotals(b *testing.B) {
	s, districts := benchStore(b)
	ctx := context.Background()
	totals := services.NewTotals(s, s, s, s, services.DefaultCalendar(), time.Now, time.UTC)
	admin := func(d services.Org) services.Principal {
		return services.Principal{User: services.User{ID: "bench", Role: services.RoleDistrictAdmin, OrgID: d.ID, OrgPath: d.Path}}
	}
	var measures []string
	for _, t := range services.BuiltinTemplates() {
		for _, f := range t.Fields {
			if f.Role == services.RoleMeasure && !slices.Contains(measures, f.Key) {
				measures = append(measures, f.Key)
			}
		}
	}
	period, _ := services.DefaultCalendar().Parse(benchYear)
	for _, q := range benchQueries {
		var cellTimes []time.Duration
		var rows int
		b.Run(q.name+"/cells", func(b *testing.B) {
			cellTimes = cellTimes[:0]
			// Warm up: a running server has its pages cached.
			for _, d := range districts {
				for range 3 {
					if _, err := totals.Get(ctx, admin(d), services.TotalsQuery{OrgID: d.ID, Period: benchYear, GroupBy: q.groupBy, Templates: q.templates}); err != nil {
						b.Fatal(err)
					}
				}
			}
			i := 0
			for b.Loop() {
				d := districts[i%len(districts)]
				i++
				start := time.Now()
				rep, err := totals.Get(ctx, admin(d), services.TotalsQuery{OrgID: d.ID, Period: benchYear, GroupBy: q.groupBy, Templates: q.templates})
				if err != nil {
					b.Fatal(err)
				}
				cellTimes = append(cellTimes, time.Since(start))
				rows = len(rep.Rows)
			}
			b.ReportMetric(float64(percentile(cellTimes, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(cellTimes, 0.95).Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(rows), "rows")
		})
		if q.templates != nil {
			continue
		}
		b.Run(q.name+"/raw_group_by", func(b *testing.B) {
			var times []time.Duration
			if _, err := rawGroupBy(ctx, s, districts[0].ID, period.From, period.To, q.groupBy, measures); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				d := districts[i%len(districts)]
				i++
				start := time.Now()
				if _, err := rawGroupBy(ctx, s, d.ID, period.From, period.To, q.groupBy, measures); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(times, 0.95).Microseconds())/1000, "p95-ms")
			if len(cellTimes) > 0 {
				b.ReportMetric(float64(percentile(times, 0.5))/float64(percentile(cellTimes, 0.5)), "x-slower-than-cells")
			}
		})
	}
}
