package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
