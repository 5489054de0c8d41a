package mongo

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huizong/huizong/services"
)

var crashTemplate = services.Template{Key: "drill", Version: 1, Name: "演练", Levels: []services.OrgKind{services.OrgSchool},
	Active: true, Fields: []services.TemplateField{
		{Key: "count", Label: "人数", Type: services.FieldInteger, Role: services.RoleMeasure},
		{Key: "kind", Label: "类型", Type: services.FieldEnum, Role: services.RoleDimension,
			Options: []services.Option{{Value: "fire", Label: "消防"}, {Value: "quake", Label: "地震"}}},
	}}

func crashRecord(status services.RecordStatus, kind string, count, version int) services.Record {
	r := services.Record{ID: "r1", ClientID: "c1", Template: "drill", TemplateVersion: 1, OrgID: "s1",
		OrgPath: []string{"c1", "d1", "s1"}, AuthorID: "u1", AuthorRole: services.RoleTeacher, OccurredOn: "2025-03-01",
		Data: json.RawMessage(fmt.Sprintf(`{"count":%d,"kind":%q}`, count, kind)), Status: status, Version: int64(version),
		CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(int64(version), 0)}
	r.Rollup = services.RollupOf(r, crashTemplate)
	return r
}

func crashEvent(v int) services.RecordEvent {
	return services.RecordEvent{ID: fmt.Sprintf("ev%d", v), Version: int64(v), At: time.Unix(int64(v), 0)}
}

// write stores r at the next version without applying it to the totals,
// as an instance that crashed right after the record write would.
func write(t *testing.T, s *Store, r services.Record) {
	t.Helper()
	_, ok, err := s.writeRecord(t.Context(), bson.D{{Key: "_id", Value: r.ID}, {Key: "version", Value: r.Version}}, r, crashEvent(int(r.Version)+1))
	if err != nil || !ok {
		t.Fatalf("writeRecord: %v %v", ok, err)
	}
}

func pendingOf(t *testing.T, s *Store, id string) pendingDoc {
	t.Helper()
	var d pendingDoc
	if err := s.records.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTotalsAfterCrash stops the roll-up of one record at every point it
// can stop, lets other writers and stale appliers run, and checks that
// FinishTotals leaves the totals exactly as the record says.
func TestTotalsAfterCrash(t *testing.T) {
	tests := []struct {
		name  string
		crash func(t *testing.T, s *Store) services.Record // returns the record's last state
	}{
		{"created, never applied", func(t *testing.T, s *Store) services.Record {
			r := crashRecord(services.StatusApproved, "fire", 3, 1)
			if _, err := s.insertRecord(t.Context(), r, crashEvent(1)); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"edited, never applied", func(t *testing.T, s *Store) services.Record {
			noErr(t, s.CreateRecord(t.Context(), crashRecord(services.StatusApproved, "fire", 3, 1), crashEvent(1)))
			r := crashRecord(services.StatusApproved, "quake", 5, 1)
			write(t, s, r)
			return r
		}},
		{"edited, half the cells moved", func(t *testing.T, s *Store) services.Record {
			noErr(t, s.CreateRecord(t.Context(), crashRecord(services.StatusApproved, "fire", 3, 1), crashEvent(1)))
			r := crashRecord(services.StatusApproved, "quake", 5, 1)
			write(t, s, r)
			d := pendingOf(t, s, "r1")
			for _, c := range toRollup(d.Rollup).Cells()[:2] {
				noErr(t, s.moveCell(t.Context(), cellID(c), "r1", d.Version, c))
			}
			return r
		}},
		{"reopened, cells moved, mark not cleared", func(t *testing.T, s *Store) services.Record {
			noErr(t, s.CreateRecord(t.Context(), crashRecord(services.StatusApproved, "fire", 3, 1), crashEvent(1)))
			r := crashRecord(services.StatusReturned, "fire", 3, 1)
			write(t, s, r)
			d := pendingOf(t, s, "r1")
			for _, id := range d.Touched {
				noErr(t, s.moveCell(t.Context(), id, "r1", d.Version, services.Cell{}))
			}
			return r
		}},
		{"two crashed edits, then appliers race", func(t *testing.T, s *Store) services.Record {
			noErr(t, s.CreateRecord(t.Context(), crashRecord(services.StatusApproved, "fire", 3, 1), crashEvent(1)))
			write(t, s, crashRecord(services.StatusApproved, "quake", 5, 1))
			r := crashRecord(services.StatusSubmitted, "fire", 7, 2)
			write(t, s, r)
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.applyRollup(t.Context(), services.DistrictOf(r.OrgPath), "r1"); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			return r
		}},
		{"a stale applier wakes after a newer write", func(t *testing.T, s *Store) services.Record {
			noErr(t, s.CreateRecord(t.Context(), crashRecord(services.StatusApproved, "fire", 3, 1), crashEvent(1)))
			write(t, s, crashRecord(services.StatusApproved, "quake", 5, 1))
			stale := pendingOf(t, s, "r1") // read at version 2, then it stalls
			r := crashRecord(services.StatusReturned, "quake", 5, 2)
			write(t, s, r)
			noErr(t, s.applyRollup(t.Context(), services.DistrictOf(r.OrgPath), "r1"))
			noErr(t, s.applyPending(t.Context(), stale))
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			noErr(t, s.CreateOrg(t.Context(), services.Org{ID: "s1", Kind: services.OrgSchool, Name: "s1", ParentID: "d1",
				Path: []string{"c1", "d1", "s1"}, Version: 1}))
			last := tt.crash(t, s)
			n, err := s.FinishTotals(t.Context(), time.Now().Add(time.Hour))
			noErr(t, err)
			if n > 1 {
				t.Errorf("finished %d records, want at most 1", n)
			}
			if d := pendingOf(t, s, "r1"); d.Pending {
				t.Error("record still pending after FinishTotals")
			}
			drift, err := s.ReconcileTotals(t.Context(), "s1", func(r services.Record) (services.Rollup, error) {
				return services.RollupOf(r, crashTemplate), nil
			}, false)
			noErr(t, err)
			if len(drift) != 0 {
				for _, d := range drift {
					t.Errorf("drift %s %s=%s: want %d %v, got %d %v", d.Want.Status, d.Want.Dim, d.Want.Value,
						d.Want.Count, d.Want.Sums, d.Got.Count, d.Got.Sums)
				}
			}
			// And the cells say what the last state says.
			want := map[string]int64{}
			for _, c := range last.Rollup.Cells() {
				want[string(c.Status)+" "+c.Dim+"="+c.Value] = c.Count
			}
			got := map[string]int64{}
			for _, dim := range []string{services.DimAll, "kind", services.DimCombo, services.DimAuthor} {
				for _, st := range []services.RecordStatus{services.StatusApproved, services.StatusSubmitted} {
					noErr(t, s.Cells(t.Context(), services.ScopeAll(), services.CellQuery{OrgPath: []string{"c1", "d1", "s1"},
						Dim: dim, Statuses: []services.RecordStatus{st}, ByValue: true},
						func(g services.CellGroup) error {
							got[string(st)+" "+dim+"="+g.Value] += g.Count
							return nil
						}))
				}
			}
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("cells %v, want %v", got, want)
			}
		})
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
