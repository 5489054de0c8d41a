package sqlite

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// BenchmarkTotalsUpkeep measures what keeping totals costs the writer:
// 16 submitters store safety-drill records of 8 schools through the group
// committer, once with each record's totals (the product) and once
// without (Rollup left empty), in one run:
//
//	go test -run '^$' -bench TotalsUpkeep -benchtime 20000x ./repository/sqlite/
func BenchmarkTotalsUpkeep(b *testing.B) {
	var drill services.Template
	for _, t := range services.BuiltinTemplates() {
		if t.Key == "safety_drill" {
			drill = t
		}
	}
	if drill.Key == "" {
		b.Fatal("no safety_drill template")
	}
	for _, mode := range []string{"on", "off"} {
		b.Run("totals="+mode, func(b *testing.B) {
			s, err := Open(b.Context(), b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var schools []string
			for i := range 8 {
				schools = append(schools, fmt.Sprintf("s%d", i))
			}
			createTree(b, s, schools...)
			kinds := []string{"消防", "地震", "防汛"}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1))
						if i > b.N {
							return
						}
						school := fmt.Sprintf("s%d", (w+i)%8)
						data, _ := json.Marshal(map[string]any{"kind": kinds[i%3], "drills": 1, "students": 800 + i%600, "staff": 60})
						r := services.Record{ID: fmt.Sprintf("r%08d", i), ClientID: fmt.Sprintf("c%08d", i), Template: drill.Key,
							TemplateVersion: drill.Version, OrgID: school, OrgPath: []string{"c", "d", school}, AuthorID: fmt.Sprintf("u%d", w),
							AuthorRole: services.RoleTeacher, OccurredOn: fmt.Sprintf("2025-%02d-%02d", 9+i%3, 1+i%28), Title: "演练",
							Data: data, Status: services.StatusSubmitted, Version: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
						if mode == "on" {
							r.Rollup = services.RollupOf(r, drill)
						}
						if err := s.CreateRecord(b.Context(), r, services.RecordEvent{ID: "e" + r.ID, RecordID: r.ID, Version: 1, At: r.CreatedAt}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}
