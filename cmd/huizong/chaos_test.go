package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/huizong/huizong/repository/mongo/mongotest"
)

// childEnv marks a test binary started as a huizong server by the chaos
// test: TestMain runs the server instead of the tests.
const childEnv = "HUIZONG_TEST_CHILD"

// childMain runs `huizong serve` in a child process of the chaos test.
func childMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, []string{"serve"}, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "huizong:", err)
		return 1
	}
	return 0
}

// child is one huizong server process.
type child struct {
	cmd  *exec.Cmd
	base string
	log  *os.File
}

// cluster runs huizong server processes on one store.
type cluster struct {
	t    *testing.T
	env  []string
	dir  string
	mu   sync.Mutex
	live []*child
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start launches one more server and waits until it is ready.
func (c *cluster) start() *child {
	c.t.Helper()
	addr := freeAddr(c.t)
	logf, err := os.CreateTemp(c.dir, "child-*.log")
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), c.env...), childEnv+"=1", "HUIZONG_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	ch := &child{cmd: cmd, base: "http://" + addr, log: logf}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(ch.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			c.t.Fatalf("server did not come up: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.mu.Lock()
	c.live = append(c.live, ch)
	c.mu.Unlock()
	c.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
	})
	return ch
}

// kill SIGKILLs ch: whatever it was writing stops where it was.
func (c *cluster) kill(ch *child) {
	c.mu.Lock()
	for i, x := range c.live {
		if x == ch {
			c.live = append(c.live[:i], c.live[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	_ = ch.cmd.Process.Kill()
	_ = ch.cmd.Wait()
}

// pick returns a live server's base URL, "" when none is up.
func (c *cluster) pick(rng *rand.Rand) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.live) == 0 {
		return ""
	}
	return c.live[rng.IntN(len(c.live))].base
}

// call does one request; status 0 is a transport error (a killed server).
func call(base, method, path, token string, body any, header map[string]string) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (c *cluster) must(want int, method, path, token string, body any, out any) {
	c.t.Helper()
	status, data := call(c.pick(rand.New(rand.NewPCG(1, 1))), method, path, token, body, nil)
	if status != want {
		c.t.Fatalf("%s %s: %d %s", method, path, status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

// admin signs the first sysadmin in and returns its access token.
func (c *cluster) admin() string {
	c.t.Helper()
	var tp tokenPair
	c.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword}, &tp)
	return tp.AccessToken
}

// org creates an org unit as admin and returns its id; a school gets a
// staff and a student count.
func (c *cluster) org(admin, kind, name, parent string, staff, students int) string {
	c.t.Helper()
	var o idOnly
	body := map[string]any{"kind": kind, "name": name, "parent_id": parent}
	if kind == "school" {
		body["staff"], body["students"] = staff, students
	}
	c.must(http.StatusCreated, "POST", "/api/v1/orgs", admin, body, &o)
	return o.ID
}

// account creates a user as admin, then signs it in and changes its
// password as a created account must before it works, and returns its
// access token.
func (c *cluster) account(admin, name, role, org string) string {
	c.t.Helper()
	c.must(http.StatusCreated, "POST", "/api/v1/users", admin, map[string]any{"username": name, "name": name,
		"role": role, "org_id": org, "password": userPassword}, nil)
	var tp tokenPair
	c.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"username": name, "password": userPassword}, &tp)
	c.must(http.StatusNoContent, "PUT", "/api/v1/me/password", tp.AccessToken,
		map[string]string{"current_password": userPassword, "new_password": userPassword + "-own"}, nil)
	c.must(http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tp.RefreshToken}, &tp)
	return tp.AccessToken
}

type chaosUser struct {
	name, role, token string
	school            int
	approver          string // name of who approves this user's records
}

// TestTotalsExactUnderChaos is the proof that totals stay exact: several
// goroutines apply thousands of mixed operations (create, edit, submit,
// approve, return, reopen, withdraw) through server processes — three on
// MongoDB, one on the embedded store (it serves one process) — and one
// process is SIGKILLed in the middle of the writes and started again.
// Then the totals must equal a from-scratch recomputation: verify finds
// no drifted cell, and the totals API agrees with counting the records.
func TestTotalsExactUnderChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, env: []string{"HUIZONG_DATA_DIR=" + dir, "HUIZONG_ADMIN_PASSWORD=" + adminPassword,
		"HUIZONG_LOG_LEVEL=warn", "HUIZONG_LOG_FORMAT=text", "HUIZONG_SHUTDOWN_DELAY=0s"}}
	procs, ops := 1, 2000
	if usingMongo() {
		procs = 3
		uri := mongoServer.URI
		if mongoServer.Ferret {
			// FerretDB under the race detector, one command at a time,
			// takes about half a second per operation: a few hundred
			// keep CI in minutes. A real MongoDB gets the full run.
			ops = 300
			u, err := url.Parse(uri)
			if err != nil {
				t.Fatal(err)
			}
			uri = "mongodb://" + mongotest.Serial(t, u.Host) + "/?serverMonitoringMode=poll"
		}
		c.env = append(c.env, "MONGODB_URI="+uri, "HUIZONG_MONGODB_DATABASE="+mongoServer.Database(t))
	}
	if n, err := strconv.Atoi(os.Getenv("HUIZONG_CHAOS_OPS")); err == nil && n > 0 {
		ops = n
	}
	for range procs {
		c.start()
	}

	// A city, two districts, two schools each; a principal and two
	// teachers per school.
	admin := c.admin()
	org := func(kind, name, parent string) string { return c.org(admin, kind, name, parent, 20, 900) }
	city := org("city", "市", "")
	var schools []string
	users := map[string]*chaosUser{}
	for d := range 2 {
		dist := org("district", fmt.Sprintf("区%d", d), city)
		for range 2 {
			schools = append(schools, org("school", fmt.Sprintf("学校%d", len(schools)), dist))
		}
		name := fmt.Sprintf("admin%d", d)
		users[name] = &chaosUser{name: name, role: "district_admin", school: -1, token: c.account(admin, name, "district_admin", dist)}
	}
	var authors []string
	for i, school := range schools {
		p := fmt.Sprintf("principal%d", i)
		users[p] = &chaosUser{name: p, role: "principal", school: i, approver: fmt.Sprintf("admin%d", i/2),
			token: c.account(admin, p, "principal", school)}
		authors = append(authors, p)
		for j := range 2 {
			n := fmt.Sprintf("teacher%d_%d", i, j)
			users[n] = &chaosUser{name: n, role: "teacher", school: i, approver: p, token: c.account(admin, n, "teacher", school)}
			authors = append(authors, n)
		}
	}

	type rec struct{ id, author string }
	var (
		recMu   sync.Mutex
		records []rec
		acked   = map[string]string{} // client id -> id of every acknowledged create
		done    atomic.Int64
		counts  sync.Map // op -> *atomic.Int64
	)
	count := func(op string) {
		v, _ := counts.LoadOrStore(op, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	kinds := []string{"消防", "地震", "防汛", "防踩踏"}
	worker := func(seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 99))
		for done.Add(1) <= int64(ops) {
			base := c.pick(rng)
			if base == "" {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			recMu.Lock()
			n := len(records)
			recMu.Unlock()
			if n < 20 || rng.IntN(4) == 0 {
				author := authors[rng.IntN(len(authors))]
				status := "submitted"
				if rng.IntN(5) == 0 {
					status = "draft"
				}
				body := map[string]any{"client_id": uuid(), "template": "safety_drill", "status": status, "title": "演练",
					"occurred_on": fmt.Sprintf("2025-%02d-%02d", 9+rng.IntN(4), 1+rng.IntN(28)),
					"data":        map[string]any{"kind": kinds[rng.IntN(len(kinds))], "students": rng.IntN(900), "staff": rng.IntN(19)}}
				st, data := call(base, "POST", "/api/v1/records", users[author].token, body, nil)
				// A phone that got no answer (its server was killed) or an
				// error sends the same record again, to a server that is up.
				for try := 0; (st == 0 || st >= 500) && try < 20; try++ {
					count(fmt.Sprintf("create %d, retried", st))
					time.Sleep(50 * time.Millisecond)
					if b := c.pick(rng); b != "" {
						st, data = call(b, "POST", "/api/v1/records", users[author].token, body, nil)
					}
				}
				if st == http.StatusCreated || st == http.StatusOK {
					var r idOnly
					_ = json.Unmarshal(data, &r)
					recMu.Lock()
					records = append(records, rec{r.ID, author})
					acked[body["client_id"].(string)] = r.ID
					recMu.Unlock()
				}
				count(fmt.Sprintf("create %d", st))
				continue
			}
			recMu.Lock()
			r := records[rng.IntN(len(records))]
			recMu.Unlock()
			author := users[r.author]
			st, data := call(base, "GET", "/api/v1/records/"+r.id, author.token, nil, nil)
			if st != http.StatusOK {
				count(fmt.Sprintf("read %d", st))
				continue
			}
			var cur recordBody
			_ = json.Unmarshal(data, &cur)
			ifMatch := map[string]string{"If-Match": fmt.Sprintf(`"v%d"`, cur.Version)}
			reviewer := users[author.approver].token
			var op, method, path, token string
			var body any
			switch cur.Status {
			case "draft", "returned":
				switch rng.IntN(3) {
				case 0:
					op, method, path, token = "edit", "PATCH", "", author.token
					body = map[string]any{"data": map[string]any{"students": rng.IntN(900), "kind": kinds[rng.IntN(len(kinds))]}}
				case 1:
					op, method, path, token = "submit", "POST", "/submit", author.token
				default:
					op, method, path, token = "withdraw", "DELETE", "", author.token
				}
			case "submitted":
				switch rng.IntN(4) {
				case 0, 1:
					op, method, path, token = "approve", "POST", "/approve", reviewer
				case 2:
					op, method, path, token, body = "return", "POST", "/return", reviewer, map[string]any{"comment": "请补充"}
				default:
					op, method, path, token = "edit", "PATCH", "", author.token
					body = map[string]any{"occurred_on": fmt.Sprintf("2025-%02d-15", 9+rng.IntN(4)), "data": map[string]any{"staff": rng.IntN(19)}}
				}
			case "approved":
				op, method, path, token, body = "reopen", "POST", "/reopen", reviewer, map[string]any{"reason": "数据有误"}
			default:
				continue // withdrawn
			}
			st, _ = call(base, method, "/api/v1/records/"+r.id+path, token, body, ifMatch)
			count(fmt.Sprintf("%s %d", op, st))
		}
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(uint64(w))
		}()
	}
	// SIGKILL one server in the middle of the writes; start one again.
	for done.Load() < int64(ops)*2/5 {
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	victim := c.live[0]
	c.mu.Unlock()
	c.kill(victim)
	t.Logf("killed a server after %d operations", done.Load())
	time.Sleep(200 * time.Millisecond)
	c.start()
	wg.Wait()

	var summary []string
	counts.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(summary)
	t.Logf("%d operations over %d records, %d processes: %s", ops, len(records), procs+1, strings.Join(summary, ", "))

	// From scratch: every cell recomputed from the records.
	var rep struct {
		Units   int `json:"units"`
		Drifted int `json:"drifted"`
		Drift   []struct {
			OrgID, Template, Status, Month, Dimension, Value string
			Want                                             int64 `json:"want_count"`
			Got                                              int64 `json:"got_count"`
		} `json:"drift"`
	}
	c.must(http.StatusOK, "POST", "/api/v1/totals:verify", admin, nil, &rep)
	t.Logf("verify: %d units, drift %d cells", rep.Units, rep.Drifted)
	if rep.Drifted != 0 {
		t.Errorf("totals drifted from the records in %d cells: %+v", rep.Drifted, rep.Drift)
	}
	// And through the API: each school's totals equal its records counted.
	var tot totalsBody
	c.must(http.StatusOK, "GET", "/api/v1/totals?org_id="+city+"&period=2025AY&template=safety_drill&status=approved,submitted", admin, nil, &tot)
	var listed int64
	for _, school := range schools {
		cursor := ""
		for {
			var l recordList
			c.must(http.StatusOK, "GET", "/api/v1/records?limit=100&status=approved,submitted&from=2025-09-01&to=2026-08-31&org_id="+school+"&cursor="+cursor, admin, nil, &l)
			listed += int64(len(l.Items))
			if cursor = l.NextCursor; cursor == "" {
				break
			}
		}
	}
	var total int64
	for _, r := range tot.Rows {
		total += r.Count
	}
	t.Logf("totals API: %d approved or submitted records; listed one by one: %d", total, listed)
	if total != listed {
		t.Errorf("totals say %d records, the records say %d", total, listed)
	}
	// No acknowledged record was lost to the kill, and no retry made a
	// second record: every record of the deployment (the sync feed,
	// withdrawn ones included) under a client id seen once, and every
	// acknowledged one among them under the id it was acknowledged with.
	byClient := map[string]string{}
	since, cursor := "2000-01-01T00:00:00Z", ""
	for {
		var l recordList
		c.must(http.StatusOK, "GET", "/api/v1/records?limit=100&updated_since="+since+"&cursor="+cursor, admin, nil, &l)
		for _, r := range l.Items {
			if prev, ok := byClient[r.ClientID]; ok && prev != r.ID {
				t.Errorf("client id %s has two records: %s and %s", r.ClientID, prev, r.ID)
			}
			byClient[r.ClientID] = r.ID
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
	}
	lost := 0
	for clientID, id := range acked {
		if byClient[clientID] != id {
			lost++
		}
	}
	t.Logf("%d creates acknowledged, %d records in the store, %d acknowledged ones missing", len(acked), len(byClient), lost)
	if lost > 0 {
		t.Errorf("%d acknowledged records are missing after the kill", lost)
	}
}
