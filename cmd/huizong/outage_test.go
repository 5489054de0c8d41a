package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huizong/huizong/repository/mongo/mongotest"
)

// callHeader is call that also returns the answer's headers.
func callHeader(base, method, path, token string, body any) (int, http.Header, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// TestMongoOutageUnderLoad stops the MongoDB server (a FerretDB of its
// own, on its own data directory) while teachers' phones submit records
// through two huizong processes, and starts it again on the same data.
// During the outage requests answer 503 problem+json with Retry-After and
// /readyz answers 503; afterwards the service resumes by itself, every
// record that got a 2xx is there under the id it was given, no phone's
// retry made a second record, and the totals count every record once
// (the roll-ups the outage left pending are finished).
func TestMongoOutageUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	if !usingMongo() {
		t.Skip("the MongoDB store's outage (HUIZONG_TEST_STORE=mongodb)")
	}
	if !mongoServer.Ferret {
		t.Skip("stops the database server: only the FerretDB the test starts itself, not HUIZONG_TEST_MONGODB_URI")
	}
	dbDir, addr := t.TempDir(), freeAddr(t)
	db, err := mongotest.StartFerret(t.Context(), dbDir, addr)
	if err != nil {
		t.Fatal(err)
	}
	var dbMu sync.Mutex
	t.Cleanup(func() {
		dbMu.Lock()
		defer dbMu.Unlock()
		db.Stop()
	})
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, env: []string{"HUIZONG_DATA_DIR=" + dir, "HUIZONG_ADMIN_PASSWORD=" + adminPassword,
		"HUIZONG_LOG_LEVEL=info", "HUIZONG_LOG_FORMAT=text", "HUIZONG_SHUTDOWN_DELAY=0s",
		"MONGODB_URI=mongodb://" + mongotest.Serial(t, addr) + "/?serverMonitoringMode=poll",
		"HUIZONG_MONGODB_DATABASE=outage", "HUIZONG_MONGODB_TIMEOUT=5s"}}
	servers := []*child{c.start(), c.start()}

	admin := c.admin()
	city := c.org(admin, "city", "市", "", 0, 0)
	school := c.org(admin, "school", "实验小学", c.org(admin, "district", "区", city, 0, 0), 60, 900)
	var tokens []string
	for i := range 3 {
		tokens = append(tokens, c.account(admin, fmt.Sprintf("teacher%d", i), "teacher", school))
	}

	var (
		mu       sync.Mutex
		acked    = map[string]string{} // client id -> record id
		answers  = map[string]int{}    // "status" -> count
		unusable []string              // 5xx answers that are not problem+json with Retry-After
		stop     atomic.Bool
	)
	phone := func(token string, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 7))
		for !stop.Load() {
			body := map[string]any{"client_id": uuid(), "template": "safety_drill", "title": "演练",
				"occurred_on": fmt.Sprintf("2025-10-%02d", 1+rng.IntN(28)),
				"data":        map[string]any{"kind": "消防", "students": 1 + rng.IntN(800), "staff": 1 + rng.IntN(50)}}
			// A phone sends the record until it gets an answer that is
			// not an error, waiting as Retry-After says.
			for try := 0; try < 200; try++ {
				base := servers[rng.IntN(len(servers))].base
				st, h, data := callHeader(base, "POST", "/api/v1/records", token, body)
				mu.Lock()
				answers[fmt.Sprint(st)]++
				if st >= 500 && (!strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") || h.Get("Retry-After") == "") {
					unusable = append(unusable, fmt.Sprintf("%d %s %q", st, h.Get("Content-Type"), data))
				}
				mu.Unlock()
				if st == http.StatusCreated || st == http.StatusOK {
					var r idOnly
					_ = json.Unmarshal(data, &r)
					mu.Lock()
					acked[body["client_id"].(string)] = r.ID
					mu.Unlock()
					break
				}
				if st != 0 && st < 500 {
					t.Errorf("create answered %d: %s", st, data)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			phone(tok, uint64(i))
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor := func(what string, d time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > d {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(start)
	}
	ready := func(want int) func() bool {
		return func() bool {
			for _, s := range servers {
				if st, _ := call(s.base, "GET", "/readyz", "", nil, nil); st != want {
					return false
				}
			}
			return true
		}
	}
	waitFor("records acknowledged before the outage", 3*time.Minute, func() bool { return count() >= 15 })

	dbMu.Lock()
	db.Stop()
	dbMu.Unlock()
	before := count()
	t.Logf("database stopped after %d acknowledged records", before)
	took := waitFor("/readyz answers 503 on every server", 30*time.Second, ready(http.StatusServiceUnavailable))
	t.Logf("/readyz went 503 after %s", took.Round(time.Millisecond))
	st, h, data := callHeader(servers[0].base, "GET", "/api/v1/records?limit=5", tokens[0], nil)
	if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") ||
		!strings.Contains(string(data), `"storage_unavailable"`) {
		t.Errorf("a read during the outage: %d %v %s, want 503 problem+json storage_unavailable with Retry-After", st, h, data)
	}
	time.Sleep(6 * time.Second) // the phones keep trying
	during := count() - before

	dbMu.Lock()
	db, err = mongotest.StartFerret(t.Context(), dbDir, addr)
	dbMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	took = waitFor("/readyz answers 200 again on every server", time.Minute, ready(http.StatusOK))
	t.Logf("database started again; /readyz 200 after %s", took.Round(time.Millisecond))
	after := count()
	waitFor("records acknowledged after the outage", 3*time.Minute, func() bool { return count() >= after+15 })
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	t.Logf("answers: %v; acknowledged %d (%d while the database was down)", answers, len(acked), during)
	if answers["503"] == 0 {
		t.Error("no request answered 503 during the outage")
	}
	for _, u := range unusable {
		t.Errorf("an error answer a phone cannot act on: %s", u)
	}
	mu.Unlock()

	// Every acknowledged record is there under its id; none twice.
	ids := map[string]bool{}
	for cid, id := range acked {
		if ids[id] {
			t.Errorf("two client ids acknowledged with record %s", id)
		}
		ids[id] = true
		_ = cid
	}
	var listed int
	cursor := ""
	for {
		var page struct {
			Items []struct {
				ID       string `json:"id"`
				ClientID string `json:"client_id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		c.must(http.StatusOK, "GET", "/api/v1/records?org_id="+school+"&limit=100&cursor="+cursor, admin, nil, &page)
		for _, it := range page.Items {
			listed++
			if want, ok := acked[it.ClientID]; ok && want != it.ID {
				t.Errorf("client id %s: stored as %s, acknowledged as %s", it.ClientID, it.ID, want)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if listed != len(acked) {
		t.Errorf("%d records stored, %d acknowledged (a phone's retry made a second record, or one was lost)", listed, len(acked))
	}
	// The totals count each record once: the roll-ups an outage left
	// pending are finished by the servers themselves.
	var tot totalsBody
	took = waitFor("totals count every record", 2*time.Minute, func() bool {
		c.must(http.StatusOK, "GET", "/api/v1/totals?org_id="+school+"&period=2025AY&template=safety_drill&status=submitted", admin, nil, &tot)
		return len(tot.Rows) == 1 && int(tot.Rows[0].Count) == len(acked)
	})
	t.Logf("totals exact %s after the load stopped", took.Round(time.Millisecond))
	var rep struct {
		Drifted int `json:"drifted"`
	}
	c.must(http.StatusOK, "POST", "/api/v1/totals:verify", admin, nil, &rep)
	if rep.Drifted != 0 {
		t.Errorf("totals drifted in %d cells after the outage", rep.Drifted)
	}
}
