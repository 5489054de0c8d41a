package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
// The store is built once (a few minutes) and kept in the system temp dir
// for later runs; delete huizong-bench-* there to rebuild.

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
		if err := loadBench(ctx, s, n); err != nil {
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

// loadBench writes the tree, the catalogue and n approved records, each
// with its contribution applied exactly as CreateRecord applies it, in
// transactions of 10,000 records.
func loadBench(ctx context.Context, s *Store, n int) error {
	now := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	city := services.Org{ID: "city", Kind: services.OrgCity, Name: "市", Path: []string{"city"}, Version: 1}
	if err := s.CreateOrg(ctx, city); err != nil {
		return err
	}
	var schools []services.Org
	for d := range 5 {
		dist := services.Org{ID: fmt.Sprintf("d%d", d), Kind: services.OrgDistrict, Name: fmt.Sprintf("区%d", d),
			ParentID: "city", Path: []string{"city", fmt.Sprintf("d%d", d)}, Version: 1}
		if err := s.CreateOrg(ctx, dist); err != nil {
			return err
		}
		for i := range 40 {
			id := fmt.Sprintf("d%ds%02d", d, i)
			sc := services.Org{ID: id, Kind: services.OrgSchool, Name: "学校" + id, ParentID: dist.ID,
				Path: []string{"city", dist.ID, id}, Stages: []string{"小学"}, Students: 1200, Staff: 90, Version: 1}
			if err := s.CreateOrg(ctx, sc); err != nil {
				return err
			}
			schools = append(schools, sc)
		}
	}
	templates := services.BuiltinTemplates()
	for i := range templates {
		templates[i].Version, templates[i].CreatedAt, templates[i].UpdatedAt = 1, now, now
		if err := s.CreateTemplate(ctx, templates[i]); err != nil {
			return err
		}
	}
	// Activities at random; stocks as schools file them: one profile per
	// school and school year (added after the activities).
	var flows []services.Template
	for _, t := range templates {
		if !t.HasStock() {
			flows = append(flows, t)
		}
	}
	profile := slices.IndexFunc(templates, func(t services.Template) bool { return t.Key == services.ProfileTemplate })
	rng := rand.New(rand.NewPCG(2025, 9))
	days := int(time.Date(2025, 8, 31, 0, 0, 0, 0, time.UTC).Sub(time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	const batch = 10_000
	for done := 0; done < n; done += batch {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for i := done; i < min(done+batch, n); i++ {
				t := flows[rng.IntN(len(flows))]
				school := schools[rng.IntN(len(schools))]
				day := time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(days+1))
				if i >= n-len(schools)*3 {
					// The last records: each school's profile of each year.
					k := n - 1 - i
					t, school = templates[profile], schools[k%len(schools)]
					day = time.Date(2022+k/len(schools), 9, 30, 0, 0, 0, 0, time.UTC)
				}
				data := map[string]any{}
				for _, f := range t.Fields {
					switch {
					case f.Role == services.RoleDimension && len(f.Options) > 0 && (f.Required || rng.IntN(3) > 0):
						data[f.Key] = f.Options[rng.IntN(len(f.Options))].Value
					case f.Role == services.RoleMeasure:
						data[f.Key] = rng.IntN(200)
					case f.Type == services.FieldPeople:
						// A few of the school's 60 staff trained together.
						var ids []string
						for range 1 + rng.IntN(8) {
							ids = append(ids, fmt.Sprintf("%s-u%d", school.ID, rng.IntN(60)))
						}
						data[f.Key] = ids
					}
				}
				raw, _ := json.Marshal(data)
				r := services.Record{ID: fmt.Sprintf("r%08d", i), ClientID: fmt.Sprintf("c%08d", i), Template: t.Key,
					TemplateVersion: 1, OrgID: school.ID, OrgPath: school.Path, AuthorID: fmt.Sprintf("%s-u%d", school.ID, rng.IntN(60)),
					AuthorRole: services.RoleTeacher, OccurredOn: day.Format("2006-01-02"), Title: t.Name, Data: raw,
					Status: services.StatusApproved, Version: 2, CreatedAt: now, UpdatedAt: now, SubmittedAt: now}
				r.Rollup = services.RollupOf(r, t)
				rollup, err := encodeRollup(r.Rollup)
				if err != nil {
					return err
				}
				if _, err := s.execTx(ctx, tx, insertRecordSQL, r.ID, r.ClientID, r.AuthorID, string(r.AuthorRole), r.Template,
					r.TemplateVersion, r.OrgID, toJSON(r.OrgPath), r.OccurredOn, "", r.Title, "", string(raw), "[]",
					string(r.Status), "[]", "", "", nil, "", "", "", r.Version, msOf(now), unixMs(now), nil, msOf(now), rollup, "[]"); err != nil {
					return err
				}
				if err := s.insertRecordScope(ctx, tx, r.ID, r.OrgPath, unixMs(now)); err != nil {
					return err
				}
				if err := s.applyCells(ctx, tx, services.RollupDelta(services.Rollup{}, r.Rollup)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	_, err := s.w.ExecContext(ctx, `ANALYZE`)
	return err
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
