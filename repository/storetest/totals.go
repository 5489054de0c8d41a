package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/huizong/huizong/services"
)

// The contract for totals, beyond the interface comments: after any
// sequence of CreateRecord and UpdateRecord calls, concurrent or not, the
// cells hold exactly the sum of every record's last stored Rollup, and
// ReconcileTotals finds no drift. Cells never returns empty cells.

func runTotals(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Cells", func(t *testing.T) { testTotalsCells(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testTotalsConcurrent(t, open(t)) })
	t.Run("Reconcile", func(t *testing.T) { testTotalsReconcile(t, open(t)) })
	t.Run("Overflow", func(t *testing.T) { testTotalsOverflow(t, open(t)) })
	t.Run("Distinct", func(t *testing.T) { testTotalsDistinct(t, open(t)) })
}

// rolled is r with the contribution the service would give it.
func rolled(r services.Record, tmpl services.Template) services.Record {
	r.Rollup = services.RollupOf(r, tmpl)
	return r
}

func totalsRecord(id, status, day, kind string, count int, path ...string) services.Record {
	r := record(id, "u-"+id, "drill", 1, path...)
	r.Status, r.OccurredOn = services.RecordStatus(status), day
	r.Data = json.RawMessage(fmt.Sprintf(`{"count":%d,"kind":%q}`, count, kind))
	return r
}

// cellSummary renders the cells one by one (grouped by unit, month,
// value, and status by asking per status) as "org month status
// dim=value" -> "n/sum".
func cellSummary(t *testing.T, s Store, sc services.Scope, q services.CellQuery) map[string]string {
	t.Helper()
	out := map[string]string{}
	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = []services.RecordStatus{services.StatusApproved, services.StatusSubmitted}
	}
	for _, st := range statuses {
		q := q
		q.Statuses, q.ByOrg, q.ByMonth, q.ByValue = []services.RecordStatus{st}, services.OrgLeaf, true, true
		err := s.Cells(t.Context(), sc, q, func(g services.CellGroup) error {
			k := fmt.Sprintf("%s %s %s %s=%s", g.OrgID, g.Bucket, st, q.Dim, g.Value)
			if _, dup := out[k]; dup {
				t.Errorf("group %s returned twice", k)
			}
			out[k] = fmt.Sprintf("%d/%d", g.Count, g.Sums["count"]/services.MeasureScale)
			if want := services.IsSchoolPath(g.OrgPath); g.School != want || g.OrgPath[len(g.OrgPath)-1] != g.OrgID {
				t.Errorf("group %s: path %v school %v", k, g.OrgPath, g.School)
			}
			return nil
		})
		noErr(t, "Cells", err)
	}
	return out
}

func testTotalsCells(t *testing.T, s Store) {
	seedTree(t, s)
	tmpl := template("drill", "safety")
	noErr(t, "CreateTemplate", s.CreateTemplate(t.Context(), tmpl))
	list := []services.Record{
		totalsRecord("a", "approved", "2025-03-01", "fire", 3, "c1", "d1", "s1"),
		totalsRecord("b", "approved", "2025-04-10", "quake", 5, "c1", "d1", "s1"),
		totalsRecord("c", "submitted", "2025-03-05", "fire", 2, "c1", "d1", "s2"),
		totalsRecord("d", "approved", "2025-03-05", "fire", 7, "c1", "d2", "s3"),
		totalsRecord("e", "approved", "2025-03-01", "fire", 1, "c2", "d3", "s4"),
		totalsRecord("f", "approved", "2025-03-02", "flood", 4, "c1", "d1"),
		totalsRecord("g", "draft", "2025-03-02", "flood", 9, "c1", "d1", "s1"),
		totalsRecord("h", "approved", "2025-03-09", "fire", 6, "c1", "d1", "s1"),
	}
	for i := range list {
		list[i] = rolled(list[i], tmpl)
	}
	createRecords(t, s, list...)
	approved := []services.RecordStatus{services.StatusApproved}
	tests := []struct {
		name string
		sc   services.Scope
		q    services.CellQuery
		want map[string]string
	}{
		{"district", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved},
			map[string]string{"s1 2025-03 approved =": "2/9", "s1 2025-04 approved =": "1/5", "d1 2025-03 approved =": "1/4"}},
		{"school", services.ScopeOrg("s1"), services.CellQuery{OrgPath: []string{"c1", "d1", "s1"}, Statuses: approved},
			map[string]string{"s1 2025-03 approved =": "2/9", "s1 2025-04 approved =": "1/5"}},
		{"city", services.ScopeOrg("c1"), services.CellQuery{OrgPath: []string{"c1"}, Statuses: approved},
			map[string]string{"s1 2025-03 approved =": "2/9", "s1 2025-04 approved =": "1/5", "d1 2025-03 approved =": "1/4",
				"s3 2025-03 approved =": "1/7"}},
		{"both statuses", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1"}, FromMonth: "2025-03", ToMonth: "2025-03"},
			map[string]string{"s1 2025-03 approved =": "2/9", "s2 2025-03 submitted =": "1/2", "d1 2025-03 approved =": "1/4"}},
		{"months", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1"}, Statuses: approved, FromMonth: "2025-04", ToMonth: "2025-12"},
			map[string]string{"s1 2025-04 approved =": "1/5"}},
		{"by dimension", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved, Dim: "kind"},
			map[string]string{"s1 2025-03 approved kind=fire": "2/9", "s1 2025-04 approved kind=quake": "1/5",
				"d1 2025-03 approved kind=flood": "1/4"}},
		{"by author", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1", "s1"}, Statuses: approved, Dim: services.DimAuthor},
			map[string]string{"s1 2025-03 approved @=u-a": "1/0", "s1 2025-03 approved @=u-h": "1/0", "s1 2025-04 approved @=u-b": "1/0"}},
		{"combination", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d2"}, Dim: services.DimCombo},
			map[string]string{"s3 2025-03 approved *=kind=fire": "1/7"}},
		{"other template", services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1"}, Templates: []string{"other"}},
			map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := diff(tt.want, cellSummary(t, s, tt.sc, tt.q)); d != "" {
				t.Errorf("cells (-want +got):\n%s", d)
			}
		})
	}
	t.Run("grouped", func(t *testing.T) {
		tests := []struct {
			name string
			q    services.CellQuery
			want map[string]string // "org|template|bucket|value" -> "count/sum/schools/values"
		}{
			{"city by district", services.CellQuery{OrgPath: []string{"c1"}, Statuses: approved, ByOrg: services.OrgChild},
				map[string]string{"d1|||": "4/18/1/1", "d2|||": "1/7/1/1"}},
			{"district by unit and quarter", services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved,
				ByOrg: services.OrgChild, ByMonth: true, Buckets: map[string]string{"2025-03": "2025Q1", "2025-04": "2025Q2"}},
				map[string]string{"s1||2025Q1|": "2/9/1/1", "s1||2025Q2|": "1/5/1/1", "d1||2025Q1|": "1/4/0/1"}},
			{"district by template and kind", services.CellQuery{OrgPath: []string{"c1", "d1"}, Dim: "kind", ByTemplate: true, ByValue: true},
				map[string]string{"|drill||fire": "3/11/2/1", "|drill||quake": "1/5/1/1", "|drill||flood": "1/4/0/1"}},
			{"distinct authors", services.CellQuery{OrgPath: []string{"c1", "d1", "s1"}, Statuses: approved, Dim: services.DimAuthor},
				map[string]string{"|||": "3/0/1/3"}},
			{"district by kind and month", services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved, Dim: "kind",
				ByTemplate: true, ByMonth: true, ByValue: true},
				map[string]string{"|drill|2025-03|fire": "2/9/1/1", "|drill|2025-04|quake": "1/5/1/1", "|drill|2025-03|flood": "1/4/0/1"}},
			{"city by district and month", services.CellQuery{OrgPath: []string{"c1"}, Statuses: approved, ByOrg: services.OrgChild,
				ByMonth: true, Buckets: map[string]string{"2025-03": "202503", "2025-04": "202504"}},
				map[string]string{"d1||202503|": "3/13/1/1", "d1||202504|": "1/5/1/1", "d2||202503|": "1/7/1/1"}},
			{"one month", services.CellQuery{OrgPath: []string{"c1"}, FromMonth: "2025-03", ToMonth: "2025-03", Statuses: approved,
				Templates: []string{"drill"}}, map[string]string{"|||": "4/20/2/1"}},
			{"one month, both statuses", services.CellQuery{OrgPath: []string{"c1"}, FromMonth: "2025-03", ToMonth: "2025-03"},
				map[string]string{"|||": "5/22/3/1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := map[string]string{}
				noErr(t, "Cells", s.Cells(t.Context(), services.ScopeAll(), tt.q, func(g services.CellGroup) error {
					got[g.OrgID+"|"+g.Template+"|"+g.Bucket+"|"+g.Value] = fmt.Sprintf("%d/%d/%d/%d", g.Count,
						g.Sums["count"]/services.MeasureScale, g.Schools, g.Values)
					return nil
				}))
				if d := diff(tt.want, got); d != "" {
					t.Errorf("groups (-want +got):\n%s", d)
				}
			})
		}
	})
	t.Run("outside scope", func(t *testing.T) {
		for _, sc := range []services.Scope{services.ScopeOrg("d2"), services.ScopeOrg("s1"), {}} {
			err := s.Cells(t.Context(), sc, services.CellQuery{OrgPath: []string{"c1", "d1"}}, func(services.CellGroup) error { return nil })
			wantErr(t, fmt.Sprintf("Cells of d1 in %+v", sc), err, services.ErrNotFound)
		}
	})
	t.Run("updates move the totals", func(t *testing.T) {
		a := list[0]
		a.Status = services.StatusReturned // reopened
		a = rolled(a, tmpl)
		_, err := s.UpdateRecord(t.Context(), services.ScopeAll(), a, services.RecordEvent{ID: "ev-a-2", Version: 2, At: at(9)})
		noErr(t, "UpdateRecord a", err)
		h := list[7]
		h.Data = json.RawMessage(`{"count":10,"kind":"quake"}`)
		h = rolled(h, tmpl)
		_, err = s.UpdateRecord(t.Context(), services.ScopeAll(), h, services.RecordEvent{ID: "ev-h-2", Version: 2, At: at(9)})
		noErr(t, "UpdateRecord h", err)
		want := map[string]string{"s1 2025-03 approved kind=quake": "1/10", "s1 2025-04 approved kind=quake": "1/5",
			"d1 2025-03 approved kind=flood": "1/4"}
		got := cellSummary(t, s, services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved, Dim: "kind"})
		if d := diff(want, got); d != "" {
			t.Errorf("after reopen and edit (-want +got):\n%s", d)
		}
		// A stale update changes nothing.
		_, err = s.UpdateRecord(t.Context(), services.ScopeAll(), h, services.RecordEvent{ID: "ev-h-2b", Version: 2, At: at(9)})
		wantErr(t, "stale UpdateRecord", err, services.ErrStale)
		if d := diff(want, cellSummary(t, s, services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved, Dim: "kind"})); d != "" {
			t.Errorf("after a stale update (-want +got):\n%s", d)
		}
	})
	for _, org := range []string{"s1", "s2", "s3", "d1", "c1"} {
		drift, err := s.ReconcileTotals(t.Context(), org, rollupOf(tmpl), false)
		noErr(t, "ReconcileTotals "+org, err)
		if len(drift) != 0 {
			t.Errorf("%s drifted: %+v", org, drift)
		}
	}
}

func rollupOf(tmpl services.Template) func(services.Record) (services.Rollup, error) {
	return func(r services.Record) (services.Rollup, error) { return services.RollupOf(r, tmpl), nil }
}

// testTotalsConcurrent races writers over shared records; the totals must
// come out exactly as the records they left.
func testTotalsConcurrent(t *testing.T, s Store) {
	seedTree(t, s)
	tmpl := template("drill", "safety")
	noErr(t, "CreateTemplate", s.CreateTemplate(t.Context(), tmpl))
	schools := [][]string{{"c1", "d1", "s1"}, {"c1", "d1", "s2"}, {"c1", "d2", "s3"}}
	var list []services.Record
	for i := range 12 {
		r := totalsRecord(fmt.Sprintf("r%02d", i), "submitted", "2025-03-01", "fire", 1, schools[i%3]...)
		list = append(list, rolled(r, tmpl))
	}
	createRecords(t, s, list...)
	statuses := []services.RecordStatus{services.StatusSubmitted, services.StatusApproved, services.StatusReturned,
		services.StatusWithdrawn, services.StatusDraft}
	kinds := []string{"fire", "quake", "flood", ""}
	const workers, ops = 6, 25
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		moves int
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				id := list[rng.IntN(len(list))].ID
				for {
					cur, err := s.Record(t.Context(), services.ScopeAll(), id)
					if err != nil {
						t.Errorf("Record %s: %v", id, err)
						return
					}
					next := cur
					next.Status = statuses[rng.IntN(len(statuses))]
					next.OccurredOn = fmt.Sprintf("2025-%02d-0%d", 3+rng.IntN(2), 1+rng.IntN(9))
					data := fmt.Sprintf(`{"count":%d}`, rng.IntN(50))
					if k := kinds[rng.IntN(len(kinds))]; k != "" {
						data = fmt.Sprintf(`{"count":%d,"kind":%q}`, rng.IntN(50), k)
					}
					next.Data = json.RawMessage(data)
					next = rolled(next, tmpl)
					_, err = s.UpdateRecord(t.Context(), services.ScopeAll(), next, services.RecordEvent{
						ID: fmt.Sprintf("ev-%s-%d", id, cur.Version+1), Version: cur.Version + 1, At: at(5)})
					if errors.Is(err, services.ErrStale) {
						continue
					}
					if err != nil {
						t.Errorf("UpdateRecord %s: %v", id, err)
						return
					}
					mu.Lock()
					moves++
					mu.Unlock()
					break
				}
			}
		}()
	}
	wg.Wait()
	if moves != workers*ops {
		t.Fatalf("%d updates went through, want %d", moves, workers*ops)
	}
	// Recompute from the records as stored.
	want := map[string]string{}
	for _, r := range list {
		cur, err := s.Record(t.Context(), services.ScopeAll(), r.ID)
		noErr(t, "Record", err)
		for _, c := range services.RollupOf(cur, tmpl).Cells() {
			if c.Dim != services.DimAll {
				continue
			}
			k := fmt.Sprintf("%s %s %s =", c.OrgID, c.Month, c.Status)
			var n, sum int64
			fmt.Sscanf(want[k], "%d/%d", &n, &sum)
			want[k] = fmt.Sprintf("%d/%d", n+c.Count, sum+c.Sums["count"]/services.MeasureScale)
		}
	}
	got := cellSummary(t, s, services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1"}})
	if d := diff(want, got); d != "" {
		t.Errorf("totals after %d concurrent updates differ from the records (-want +got):\n%s", moves, d)
	}
	// Summed by district and month, with the unitsIn behind each.
	wantByMonth := map[string]string{}
	unitsIn := map[string]map[string]bool{}
	counts := map[string]int64{}
	for _, r := range list {
		cur, err := s.Record(t.Context(), services.ScopeAll(), r.ID)
		noErr(t, "Record", err)
		ru := services.RollupOf(cur, tmpl)
		if ru.Empty() {
			continue
		}
		k := string(ru.Status) + " " + cur.OrgPath[1] + " " + ru.Month
		counts[k]++
		if unitsIn[k] == nil {
			unitsIn[k] = map[string]bool{}
		}
		unitsIn[k][cur.OrgID] = true
	}
	for k, n := range counts {
		wantByMonth[k] = fmt.Sprintf("%d/%d", n, len(unitsIn[k]))
	}
	gotByMonth := map[string]string{}
	for _, st := range []services.RecordStatus{services.StatusApproved, services.StatusSubmitted} {
		noErr(t, "Cells by district and month", s.Cells(t.Context(), services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1"},
			ByOrg: services.OrgChild, ByMonth: true, Statuses: []services.RecordStatus{st}, ByTemplate: true},
			func(g services.CellGroup) error {
				gotByMonth[string(st)+" "+g.OrgID+" "+g.Bucket] = fmt.Sprintf("%d/%d", g.Count, g.Schools)
				return nil
			}))
	}
	if d := diff(wantByMonth, gotByMonth); d != "" {
		t.Errorf("by district and month (-want +got):\n%s", d)
	}
	for _, org := range []string{"s1", "s2", "s3"} {
		drift, err := s.ReconcileTotals(t.Context(), org, rollupOf(tmpl), false)
		noErr(t, "ReconcileTotals "+org, err)
		if len(drift) != 0 {
			t.Errorf("%s drifted: %+v", org, drift)
		}
	}
}

// testTotalsReconcile stores a record whose contribution is wrong (as a
// bug or a half-applied write would leave it): verify reports the drift,
// fix repairs it, and later writes start from the repaired state.
func testTotalsReconcile(t *testing.T, s Store) {
	seedTree(t, s)
	tmpl := template("drill", "safety")
	noErr(t, "CreateTemplate", s.CreateTemplate(t.Context(), tmpl))
	good := rolled(totalsRecord("ok", "approved", "2025-03-01", "fire", 3, "c1", "d1", "s1"), tmpl)
	bad := totalsRecord("bad", "approved", "2025-03-02", "fire", 4, "c1", "d1", "s1")
	wrong := bad
	wrong.Data = json.RawMessage(`{"count":40,"kind":"quake"}`)
	bad.Rollup = services.RollupOf(wrong, tmpl)
	createRecords(t, s, good, bad)

	drift, err := s.ReconcileTotals(t.Context(), "s1", rollupOf(tmpl), false)
	noErr(t, "verify", err)
	if len(drift) == 0 {
		t.Fatal("verify found no drift in a wrong contribution")
	}
	q := services.CellQuery{OrgPath: []string{"c1", "d1", "s1"}}
	if got := cellSummary(t, s, services.ScopeAll(), q)["s1 2025-03 approved ="]; got != "2/43" {
		t.Fatalf("verify changed the totals: %s", got)
	}
	if _, err := s.ReconcileTotals(t.Context(), "s1", rollupOf(tmpl), true); err != nil {
		t.Fatal(err)
	}
	drift, err = s.ReconcileTotals(t.Context(), "s1", rollupOf(tmpl), false)
	noErr(t, "verify after fix", err)
	if len(drift) != 0 {
		t.Fatalf("drift after fix: %+v", drift)
	}
	want := map[string]string{"s1 2025-03 approved kind=fire": "2/7"}
	if d := diff(want, cellSummary(t, s, services.ScopeAll(), services.CellQuery{OrgPath: q.OrgPath, Dim: "kind"})); d != "" {
		t.Errorf("after fix (-want +got):\n%s", d)
	}
	// The next write moves the totals from the repaired contribution.
	next := bad
	next.Status = services.StatusReturned
	next = rolled(next, tmpl)
	_, err = s.UpdateRecord(t.Context(), services.ScopeAll(), next, services.RecordEvent{ID: "ev-bad-2", Version: 2, At: at(3)})
	noErr(t, "UpdateRecord", err)
	want = map[string]string{"s1 2025-03 approved kind=fire": "1/3"}
	if d := diff(want, cellSummary(t, s, services.ScopeAll(), services.CellQuery{OrgPath: q.OrgPath, Dim: "kind"})); d != "" {
		t.Errorf("after the next write (-want +got):\n%s", d)
	}
}

// The contract at the int64 limits of fixed-point sums: a cell (and any
// sum a store keeps beside it) holds exactly the sum of its records up to
// math.MaxInt64 and down to math.MinInt64; a write that would take one
// beyond is refused with services.TotalOverflow (KindInvalid, naming
// data.<measure>, code total_overflow) before anything of it is stored; a
// query whose groups sum beyond int64 fails the same way. Nothing wraps.
// Contributions at exactly ±math.MaxInt64 may be refused.

// testTotalsOverflow drives sums to the limits with contributions set
// directly: the services cap a record's value (MaxMeasure) far below
// them, but a store must be exact or refuse whatever it is given.
func testTotalsOverflow(t *testing.T, s Store) {
	seedTree(t, s)
	tmpl := template("drill", "safety")
	noErr(t, "CreateTemplate", s.CreateTemplate(t.Context(), tmpl))
	const half = int64(math.MaxInt64 / 2)  // two of them and one: math.MaxInt64
	stored := map[string]services.Rollup{} // what each stored record adds
	big := func(id, day string, sum int64, path ...string) services.Record {
		r := rolled(totalsRecord(id, "approved", day, "fire", 1, path...), tmpl)
		r.Rollup.Sums = map[string]int64{"count": sum}
		return r
	}
	create := func(r services.Record) error {
		err := s.CreateRecord(t.Context(), r, created(r))
		if err == nil {
			stored[r.ID] = r.Rollup
		}
		return err
	}
	// update moves record id (at version 1+moves) to sum in month day.
	update := func(id string, day string, sum int64) error {
		cur, err := s.Record(t.Context(), services.ScopeAll(), id)
		noErr(t, "Record "+id, err)
		next := cur
		next.OccurredOn = day
		next = rolled(next, tmpl)
		next.Rollup.Sums = map[string]int64{"count": sum}
		_, err = s.UpdateRecord(t.Context(), services.ScopeAll(), next, services.RecordEvent{
			ID: fmt.Sprintf("ev-%s-%d", id, cur.Version+1), Version: cur.Version + 1, At: at(5)})
		if err == nil {
			stored[id] = next.Rollup
		}
		return err
	}
	refused := func(what string, err error) {
		t.Helper()
		var se *services.Error
		if !errors.As(err, &se) || se.Kind != services.KindInvalid {
			t.Fatalf("%s: err = %v, want a KindInvalid services.Error", what, err)
		}
		for _, f := range se.Fields {
			if f.Field == "data.count" && f.Code == "total_overflow" {
				return
			}
		}
		t.Fatalf("%s: fields %+v, want data.count total_overflow", what, se.Fields)
	}
	approved := []services.RecordStatus{services.StatusApproved}
	// sums reads the count sums of q as "group" -> "n/sum", exact.
	sums := func(q services.CellQuery) (map[string]string, error) {
		out := map[string]string{}
		err := s.Cells(t.Context(), services.ScopeAll(), q, func(g services.CellGroup) error {
			out[g.OrgID+"|"+g.Bucket+"|"+g.Value] = fmt.Sprintf("%d/%d", g.Count, g.Sums["count"])
			return nil
		})
		return out, err
	}
	// check compares the school's cells of a month (all, by kind) and the
	// district's sums of that month (kept apart by some stores) with want
	// "n/sum".
	check := func(what, month, want string) {
		t.Helper()
		for _, q := range []services.CellQuery{
			{OrgPath: []string{"c1", "d1", "s1"}, Statuses: approved, FromMonth: month, ToMonth: month},
			{OrgPath: []string{"c1", "d1", "s1"}, Statuses: approved, FromMonth: month, ToMonth: month, Dim: "kind", ByValue: true},
			{OrgPath: []string{"c1", "d1"}, Statuses: approved, Templates: []string{"drill"}, FromMonth: month, ToMonth: month},
			{OrgPath: []string{"c1", "d1"}, Statuses: approved, Templates: []string{"drill"}, FromMonth: month, ToMonth: month,
				Dim: "kind", ByValue: true},
		} {
			got, err := sums(q)
			noErr(t, what+": Cells", err)
			if len(got) != 1 {
				t.Fatalf("%s: %+v: groups %v, want one", what, q, got)
			}
			for k, v := range got {
				if v != want {
					t.Errorf("%s: %+v: group %q = %s, want %s", what, q, k, v, want)
				}
			}
		}
	}
	maxSum := fmt.Sprintf("3/%d", int64(math.MaxInt64))

	// Up to the limit, exactly.
	for _, r := range []services.Record{
		big("a", "2025-03-01", half, "c1", "d1", "s1"),
		big("b", "2025-03-02", half, "c1", "d1", "s1"),
		big("c", "2025-03-03", 1, "c1", "d1", "s1"),
	} {
		noErr(t, "CreateRecord "+r.ID, create(r))
	}
	check("at the limit", "2025-03", maxSum)

	// One more unit is refused, and nothing of the record is stored.
	refused("CreateRecord beyond the limit", create(big("d", "2025-03-04", 1, "c1", "d1", "s1")))
	_, err := s.Record(t.Context(), services.ScopeAll(), "d")
	wantErr(t, "Record d after a refused create", err, services.ErrNotFound)
	check("after a refused create", "2025-03", maxSum)

	// An update that grows the sum past the limit is refused; one that
	// shrinks it, and back up to the limit, is exact.
	refused("UpdateRecord beyond the limit", update("c", "2025-03-03", 2))
	if cur, err := s.Record(t.Context(), services.ScopeAll(), "c"); err != nil || cur.Version != 1 {
		t.Fatalf("record c after a refused update: version %d, err %v", cur.Version, err)
	}
	check("after a refused update", "2025-03", maxSum)
	noErr(t, "UpdateRecord c down", update("c", "2025-03-03", -5))
	check("moved down", "2025-03", fmt.Sprintf("3/%d", int64(math.MaxInt64)-6))
	noErr(t, "UpdateRecord c up", update("c", "2025-03-03", 1))
	check("back at the limit", "2025-03", maxSum)

	// The same at the bottom.
	for _, r := range []services.Record{
		big("e", "2025-04-01", -half, "c1", "d1", "s1"),
		big("f", "2025-04-02", -half, "c1", "d1", "s1"),
		big("g", "2025-04-03", -2, "c1", "d1", "s1"),
	} {
		noErr(t, "CreateRecord "+r.ID, create(r))
	}
	minSum := fmt.Sprintf("3/%d", int64(math.MinInt64))
	check("at the bottom", "2025-04", minSum)
	refused("CreateRecord below the bottom", create(big("h", "2025-04-04", -1, "c1", "d1", "s1")))
	check("after a refused create below", "2025-04", minSum)

	// A move whose new cell would overflow is refused whole: the cell it
	// leaves keeps the record too.
	refused("UpdateRecord moving into a full cell", update("a", "2025-04-05", -half))
	check("after a refused move (old cell)", "2025-03", maxSum)
	check("after a refused move (new cell)", "2025-04", minSum)

	// Another school of the district: its own cell holds half exactly;
	// the district's sum would pass the limit, so a store that keeps it
	// refuses the write, and one that sums at query time refuses the
	// query.
	err = create(big("i", "2025-03-01", half, "c1", "d1", "s2"))
	district := services.CellQuery{OrgPath: []string{"c1", "d1"}, Statuses: approved, Templates: []string{"drill"},
		FromMonth: "2025-03", ToMonth: "2025-03"}
	if err != nil {
		refused("CreateRecord beyond the district's sum", err)
		check("after a refused district sum", "2025-03", maxSum)
	} else {
		got, err := sums(services.CellQuery{OrgPath: []string{"c1", "d1", "s2"}, Statuses: approved,
			FromMonth: "2025-03", ToMonth: "2025-03"})
		noErr(t, "Cells of s2", err)
		if want := map[string]string{"||": fmt.Sprintf("1/%d", half)}; diff(want, got) != "" {
			t.Errorf("s2 (-want +got):\n%s", diff(want, got))
		}
		got, err = sums(district)
		refused(fmt.Sprintf("Cells summing past the limit (got %v)", got), err)
	}

	// What was refused left no trace the records do not explain.
	for _, org := range []string{"s1", "s2", "d1"} {
		drift, err := s.ReconcileTotals(t.Context(), org, func(r services.Record) (services.Rollup, error) {
			return stored[r.ID], nil
		}, false)
		noErr(t, "ReconcileTotals "+org, err)
		if len(drift) != 0 {
			t.Errorf("%s drifted: %+v", org, drift)
		}
	}
}

// The contract for distinct measures: a record adds one cell of kind
// DistinctDim(key) per value of the measure (Rollup.Distinct); Cells over
// such a kind answers, in Values, the distinct values of the cells it
// sums (never a sum of per-unit counts), so a person in records of two
// schools, or in two records, counts once. Writes move those cells like
// any other, and ReconcileTotals covers them.

// testTotalsDistinct edits, moves between statuses and withdraws records
// of a template with a people field and a distinct text field at random;
// afterwards the distinct counts equal a count over the records as
// stored, at every level, and verify finds nothing to repair.
func testTotalsDistinct(t *testing.T, s Store) {
	seedTree(t, s)
	tmpl := template("training", "training")
	tmpl.Fields = append(tmpl.Fields,
		services.TemplateField{Key: "trainees", Label: "参训教师", Type: services.FieldPeople},
		services.TemplateField{Key: "project", Label: "课题", Type: services.FieldText, Role: services.RoleDistinct},
		services.TemplateField{Key: "enrolled", Label: "在校生", Type: services.FieldInteger, Role: services.RoleMeasure,
			Aggregation: services.AggregateLast})
	noErr(t, "CreateTemplate", s.CreateTemplate(t.Context(), tmpl))
	schools := [][]string{{"c1", "d1", "s1"}, {"c1", "d1", "s2"}, {"c1", "d2", "s3"}}
	people := []string{"p1", "p2", "p3", "p4", "p5", "p6"}
	projects := []string{"甲", "乙", "丙", ""}
	rng := rand.New(rand.NewPCG(11, 13))
	data := func() json.RawMessage {
		var ids []string
		for _, p := range people {
			if rng.IntN(3) == 0 {
				ids = append(ids, fmt.Sprintf("%q", p))
			}
		}
		d := fmt.Sprintf(`{"count":1,"enrolled":%d,"trainees":[%s]`, 100+rng.IntN(900), strings.Join(ids, ","))
		if p := projects[rng.IntN(len(projects))]; p != "" {
			d += fmt.Sprintf(`,"project":%q`, p)
		}
		return json.RawMessage(d + "}")
	}
	var list []services.Record
	for i := range 12 {
		r := record(fmt.Sprintf("t%02d", i), "u1", "training", 1, schools[i%3]...)
		r.Status, r.Data = services.StatusApproved, data()
		list = append(list, rolled(r, tmpl))
	}
	createRecords(t, s, list...)
	statuses := []services.RecordStatus{services.StatusSubmitted, services.StatusApproved, services.StatusApproved,
		services.StatusReturned, services.StatusWithdrawn}
	for op := range 40 {
		id := list[rng.IntN(len(list))].ID
		cur, err := s.Record(t.Context(), services.ScopeAll(), id)
		noErr(t, "Record", err)
		next := cur
		next.Status, next.Data = statuses[rng.IntN(len(statuses))], data()
		next.OccurredOn = fmt.Sprintf("2025-03-%02d", 1+rng.IntN(3))
		next = rolled(next, tmpl)
		_, err = s.UpdateRecord(t.Context(), services.ScopeAll(), next, services.RecordEvent{
			ID: fmt.Sprintf("ev-%s-%d-%d", id, cur.Version+1, op), Version: cur.Version + 1, At: at(5)})
		noErr(t, "UpdateRecord", err)
	}
	// Count over the records as stored.
	want := map[string]int{}
	sets := map[string]map[string]bool{}
	for _, r := range list {
		cur, err := s.Record(t.Context(), services.ScopeAll(), r.ID)
		noErr(t, "Record", err)
		ru := services.RollupOf(cur, tmpl)
		if ru.Empty() || ru.Status != services.StatusApproved {
			continue
		}
		for key, vals := range ru.Distinct {
			for _, unit := range cur.OrgPath {
				k := unit + " " + key
				if sets[k] == nil {
					sets[k] = map[string]bool{}
				}
				for _, v := range vals {
					sets[k][v] = true
				}
			}
		}
	}
	for k, set := range sets {
		want[k] = len(set)
	}
	got := map[string]int{}
	for _, path := range [][]string{{"c1"}, {"c1", "d1"}, {"c1", "d2"}, schools[0], schools[1], schools[2]} {
		for _, key := range []string{"trainees", "project"} {
			noErr(t, "Cells", s.Cells(t.Context(), services.ScopeAll(), services.CellQuery{OrgPath: path, Dim: services.DistinctDim(key),
				Statuses: []services.RecordStatus{services.StatusApproved}, ByTemplate: true}, func(g services.CellGroup) error {
				if g.Values > 0 {
					got[path[len(path)-1]+" "+key] = g.Values
				}
				return nil
			}))
		}
	}
	if len(want) < 8 || want["c1 trainees"] == 0 || want["c1 project"] == 0 {
		t.Fatalf("the random edits left too little to count: %v", want)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("distinct counts differ from the records (-want +got):\n%s", d)
	}
	// Stocks: one DimLast cell per record standing, each school's latest
	// (by day, then id) found among them.
	wantLatest, gotLatest := map[string]string{}, map[string]string{}
	best := map[string]string{}
	for _, r := range list {
		cur, err := s.Record(t.Context(), services.ScopeAll(), r.ID)
		noErr(t, "Record", err)
		if ru := services.RollupOf(cur, tmpl); ru.Empty() || ru.Status != services.StatusApproved {
			continue
		}
		var d struct{ Enrolled int }
		noErr(t, "data", json.Unmarshal(cur.Data, &d))
		if k := cur.OccurredOn + " " + cur.ID; k > best[cur.OrgID] {
			best[cur.OrgID], wantLatest[cur.OrgID] = k, fmt.Sprint(d.Enrolled)
		}
	}
	noErr(t, "Cells", s.Cells(t.Context(), services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1"}, Dim: services.DimLast,
		Statuses: []services.RecordStatus{services.StatusApproved}, ByOrg: services.OrgLeaf, ByTemplate: true, ByValue: true},
		func(g services.CellGroup) error {
			day, id, _ := services.ParseLastValue(g.Value)
			if g.Count != 1 {
				t.Errorf("stock cell %s holds %d records", g.Value, g.Count)
			}
			if k := day + " " + id; k >= best[g.OrgID] {
				gotLatest[g.OrgID] = fmt.Sprint(g.Sums["enrolled"] / services.MeasureScale)
			}
			return nil
		}))
	if len(wantLatest) < 2 {
		t.Fatalf("too few schools with stocks: %v", wantLatest)
	}
	if d := diff(wantLatest, gotLatest); d != "" {
		t.Errorf("latest stock per school (-want +got):\n%s", d)
	}
	for _, org := range []string{"s1", "s2", "s3", "d1", "d2"} {
		drift, err := s.ReconcileTotals(t.Context(), org, rollupOf(tmpl), false)
		noErr(t, "ReconcileTotals "+org, err)
		if len(drift) != 0 {
			t.Errorf("%s drifted: %+v", org, drift)
		}
	}
}
