package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// runLoad sends requests from clients goroutines until b.N requests are
// done and reports requests per second and latency percentiles.
func runLoad(b *testing.B, clients int, do func(i int) int) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if st := do(int(i)); st >= 300 {
					failed.Add(1)
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkAuthenticatedRead measures GET /api/v1/me over HTTP on the
// embedded store: JWT verification plus the user and session reads that
// make revocation immediate, 16 clients.
func BenchmarkAuthenticatedRead(b *testing.B) {
	s := newTestServer(b, map[string]string{"HUIZONG_LOGIN_PER_IP": "100000"})
	w := s.seed()
	tok := w.tokens["teacherA1"]
	client := s.http.Client()
	runLoad(b, 16, func(int) int {
		r, _ := http.NewRequest("GET", s.http.URL+"/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(r)
		if err != nil {
			return 599
		}
		resp.Body.Close()
		return resp.StatusCode
	})
}

// BenchmarkCreateOrg measures POST /api/v1/orgs (validation, scope check,
// one write transaction) over HTTP on the embedded store, 16 clients, with
// each synchronous setting in the same run.
func BenchmarkCreateOrg(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := newTestServer(b, map[string]string{"HUIZONG_SQLITE_SYNCHRONOUS": mode})
			w := s.seed()
			runLoad(b, 16, func(i int) int {
				return s.do(req{method: "POST", path: "/api/v1/orgs", token: w.tokens["adminA"],
					body: map[string]any{"kind": "school", "name": fmt.Sprintf("压测学校%d", i), "parent_id": w.distA}}).status
			})
		})
	}
}

// BenchmarkLogin measures sign-in with the production argon2id parameters
// (19 MiB, t=2): the cost every phone pays once a month, and what bounds
// a school signing in at 8 am.
func BenchmarkLogin(b *testing.B) {
	s := &testServer{t: b, dir: b.TempDir(), clock: &clock{now: time.Now().UTC()}}
	s.cfg = testConfig(b, s.dir, map[string]string{"HUIZONG_LOGIN_PER_IP": "1000000", "HUIZONG_LOGIN_PER_ACCOUNT": "1000000"})
	s.startWith(services.DefaultPasswordParams())
	runLoad(b, 4, func(int) int {
		return s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "admin", "password": adminPassword}}).status
	})
}

// BenchmarkSubmitRecord measures POST /api/v1/records over HTTP on the
// embedded store, 16 clients (each a teacher of its own school, as at
// the end of a term): token check, template and org reads, validation
// against the template, and one write transaction with the record and
// its first history event. Both synchronous settings in the same run.
func BenchmarkSubmitRecord(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := newTestServer(b, map[string]string{"HUIZONG_SQLITE_SYNCHRONOUS": mode, "HUIZONG_LOGIN_PER_IP": "100000"})
			w := s.seed()
			tokens := []string{w.tokens["teacherA1"], w.tokens["teacherA1b"], w.tokens["teacherB1"], w.tokens["principalA1"],
				w.tokens["principalA2"], w.tokens["principalB1"]}
			client := s.http.Client()
			runLoad(b, 16, func(i int) int {
				body := fmt.Sprintf(`{"client_id":%q,"template":"safety_drill","occurred_on":"2025-10-09","title":"秋季消防疏散演练",`+
					`"description":"全校师生参加，用时3分20秒","data":{"kind":"消防","students":%d,"staff":80,"evacuation_seconds":200}}`,
					uuid(), 100+i%900)
				r, _ := http.NewRequest("POST", s.http.URL+"/api/v1/records", strings.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
				r.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(r)
				if err != nil {
					return 599
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			})
		})
	}
}
