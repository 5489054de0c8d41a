// Command huizong-bench is the load yardstick: one command builds huizong,
// starts it in its own process on a fresh embedded store, seeds a district
// (schools, principals, teachers, a collection task) through the API, and
// drives it over loopback HTTP with vegeta (as a library) in a realistic
// mix: phones submitting records one by one and in offline batches (some
// retried with the same client id), syncing their lists and uploading
// photos; admins reading totals, task progress and exports. It prints
// throughput and p50/p95/p99 per endpoint, the errors, the server's peak
// RSS, and at the end checks that the totals verify against a recount and
// that every acknowledged record exists, once.
//
//	go run ./cmd/huizong-bench -duration 30s -rate 400
//
// -mix narrows the load to one kind of request, to measure it alone:
// submit (single records, each a new client id), batch (offline batches of
// -batch records) or read (GET /api/v1/me and a template by key with the
// If-None-Match of its ETag). -rate 0 drives it closed-loop: as fast as the
// server answers, with exactly -connections requests in flight on at most
// -connections connections. -synchronous takes a list (FULL,NORMAL): the
// whole run (fresh server and store, seed, drive, checks) is repeated once
// per value, and a ratio of their throughputs closes the report.
//
//	go run ./cmd/huizong-bench -duration 15s -rate 0 -connections 16 -mix submit -schools 8 -teachers 8 -synchronous FULL,NORMAL
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"maps"
	mrand "math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "huizong-bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	duration    time.Duration
	rate        int
	schools     int
	teachers    int
	server      string
	synchronous string // one value, of the run at hand
	keep        bool
	mix         string
	batch       int
	connections int
}

// The values of -mix.
const (
	mixMixed  = "mixed"
	mixSubmit = "submit"
	mixBatch  = "batch"
	mixRead   = "read"
)

// mixedBatch is how many records a batch of the mixed load carries.
const mixedBatch = 10

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("huizong-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to drive the server")
	fs.IntVar(&o.rate, "rate", 300, "requests a second, all kinds together; 0: closed loop, as fast as -connections requests in flight go")
	fs.IntVar(&o.connections, "connections", 64, "connections to the server (at most, with -rate 0; idle ones kept, otherwise); with -rate 0 also the requests in flight")
	fs.StringVar(&o.mix, "mix", mixMixed, "the load: mixed (phones and admins), submit (single records), batch (offline batches of -batch records) or read (GET /me and a template by key with If-None-Match)")
	fs.IntVar(&o.batch, "batch", 100, "records a request with -mix batch")
	fs.IntVar(&o.schools, "schools", 10, "schools in the district")
	fs.IntVar(&o.teachers, "teachers", 6, "teachers (phones) per school")
	fs.StringVar(&o.server, "server", "", "a huizong binary (default: go build ./cmd/huizong)")
	fs.StringVar(&o.synchronous, "synchronous", "FULL", "the embedded store's synchronous setting (FULL or NORMAL); a comma-separated list (FULL,NORMAL) runs everything once per value")
	fs.BoolVar(&o.keep, "keep", false, "keep the data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rate < 0 || o.schools < 1 || o.teachers < 1 || o.duration <= 0 {
		return errors.New("-rate, -schools, -teachers and -duration must be positive (-rate 0: closed loop)")
	}
	if o.connections < 1 || o.batch < 1 {
		return errors.New("-connections and -batch must be positive")
	}
	switch o.mix {
	case mixMixed, mixSubmit, mixBatch, mixRead:
	default:
		return fmt.Errorf("-mix %q: want mixed, submit, batch or read", o.mix)
	}
	syncs, err := synchronousList(o.synchronous)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "huizong-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	if o.server == "" {
		o.server = filepath.Join(dir, "huizong")
		fmt.Fprintln(stderr, "building huizong ...")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.server, "github.com/huizong/huizong/cmd/huizong")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	// Once per synchronous value, each on a fresh server and store; the
	// blocks are printed as they come, the failed checks kept for the end.
	var runs []measured
	var failed []error
	for i, syn := range syncs {
		ro := o
		ro.synchronous = syn
		data := filepath.Join(dir, "data")
		if len(syncs) > 1 {
			data = filepath.Join(dir, "data-"+strings.ToLower(syn))
			fmt.Fprintf(stderr, "synchronous=%s (%d of %d):\n", syn, i+1, len(syncs))
		}
		m, err := runOnce(ctx, ro, data, stderr)
		if err != nil {
			return err
		}
		if !o.keep && len(syncs) > 1 {
			_ = os.RemoveAll(data)
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		report(stdout, ro, m.res, m.rss, m.check)
		runs = append(runs, m)
		if m.check.drifted != 0 || m.check.missing != 0 || m.res.duplicates != 0 {
			err := fmt.Errorf("%d drifted cells, %d acknowledged records missing, %d duplicates", m.check.drifted, m.check.missing, m.res.duplicates)
			if len(syncs) > 1 {
				err = fmt.Errorf("synchronous=%s: %w", syn, err)
			}
			failed = append(failed, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(runs) > 1 {
		fmt.Fprintln(stdout)
		summarize(stdout, o, runs)
	}
	return errors.Join(failed...)
}

// synchronousList is the values of -synchronous, upper-cased, in order.
func synchronousList(s string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.ToUpper(strings.TrimSpace(v)); v != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-synchronous %q: want FULL, NORMAL or a comma-separated list of them", s)
	}
	return out, nil
}

// measured is one run: one server, one store, one synchronous value.
type measured struct {
	synchronous string
	res         results
	rss         float64
	check       checked
}

// runOnce starts a server on a fresh store in data, seeds it, drives it
// and checks it; the server is stopped when it returns.
func runOnce(ctx context.Context, o options, data string, stderr io.Writer) (measured, error) {
	m := measured{synchronous: o.synchronous}
	srv, err := startServer(ctx, o, data, stderr)
	if err != nil {
		return m, err
	}
	defer srv.stop()
	fmt.Fprintf(stderr, "server pid %d on %s; seeding %d schools × %d teachers ...\n", srv.cmd.Process.Pid, srv.base, o.schools, o.teachers)
	d, err := seed(ctx, srv.base, o)
	if err != nil {
		return m, fmt.Errorf("seed: %w", err)
	}
	if o.rate == 0 {
		fmt.Fprintf(stderr, "driving %s closed-loop, %d requests in flight, for %s ...\n", o.mix, o.connections, o.duration)
	} else {
		fmt.Fprintf(stderr, "driving %d requests/s for %s ...\n", o.rate, o.duration)
	}
	m.res = drive(d, o)
	m.rss = srv.peakRSS()
	fmt.Fprintln(stderr, "checking ...")
	m.check = d.check(ctx, m.res)
	return m, nil
}

// server is the huizong process under load.
type server struct {
	cmd    *exec.Cmd
	base   string
	exited chan struct{} // closed when the process has ended
}

const adminPassword = "Bench-Admin-2025!"

func startServer(ctx context.Context, o options, data string, stderr io.Writer) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(o.server)
	cmd.Env = append(os.Environ(), "HUIZONG_DATA_DIR="+data, "HUIZONG_ADDR="+addr,
		"HUIZONG_ADMIN_PASSWORD="+adminPassword, "HUIZONG_LOG_LEVEL=error", "HUIZONG_SHUTDOWN_DELAY=0s",
		"HUIZONG_SQLITE_SYNCHRONOUS="+o.synchronous,
		// A district's phones behind one NAT, and budgets no real phone
		// reaches: the load must measure the server, not its limits.
		"HUIZONG_RECORD_BURST=1000000", "HUIZONG_RECORD_RATE=1000000", "HUIZONG_ATTACHMENT_BURST=1000000",
		"HUIZONG_ATTACHMENT_RATE=1000000", "HUIZONG_ATTACHMENT_QUOTA_MB=100000", "HUIZONG_LOGIN_PER_IP=1000000",
		"HUIZONG_LOGIN_PER_ACCOUNT=1000000")
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if r, err := http.Get(s.base + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("the server exited before it became ready: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, errors.New("the server did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// peakRSS is the server's peak resident memory in MiB (VmHWM), 0 when it
// cannot be read.
func (s *server) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// district is what the seed made: tokens and ids.
type district struct {
	base      string
	admin     string // sysadmin
	bureau    string // district admin
	id        string
	schools   []string
	phones    []phone
	task      string
	photo     []byte
	client    *http.Client
	mix       string
	batch     int // records a batch of the mix carries
	next      int // the round-robin of -mix submit, batch and read
	mu        sync.Mutex
	acked     map[string]string // client id -> record id, of every 2xx submission
	clientIDs []string          // acknowledged client ids of single submissions, to retry
	sent      map[string]sent   // client id -> what a single submission sent
}

// sent is a single submission as its phone sent it.
type sent struct {
	body  []byte
	token string
}

type phone struct {
	token  string
	school string
	etag   string // of the safety_drill template as this phone saw it (-mix read)
}

// templatePath is the template that -mix read asks for by key.
const templatePath = "/api/v1/templates/safety_drill"

func seed(ctx context.Context, base string, o options) (*district, error) {
	// Enough idle connections for the 16 readers of the checks.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	d := &district{base: base, client: &http.Client{Timeout: 60 * time.Second, Transport: tr}, acked: map[string]string{}, sent: map[string]sent{},
		mix: o.mix, batch: mixedBatch}
	if o.mix == mixBatch {
		d.batch = o.batch
	}
	var err error
	if d.admin, err = d.login("admin", adminPassword); err != nil {
		return nil, err
	}
	var city, dist idOnly
	if err := d.call(ctx, "POST", "/api/v1/orgs", d.admin, map[string]any{"kind": "city", "name": "压测市"}, &city); err != nil {
		return nil, err
	}
	if err := d.call(ctx, "POST", "/api/v1/orgs", d.admin, map[string]any{"kind": "district", "name": "压测区", "parent_id": city.ID}, &dist); err != nil {
		return nil, err
	}
	d.id = dist.ID
	mobile := 13500000000
	user := func(username, role, org string) (string, error) {
		mobile++
		if err := d.call(ctx, "POST", "/api/v1/users", d.admin, map[string]any{"username": username, "name": username, "role": role,
			"org_id": org, "mobile": strconv.Itoa(mobile), "password": adminPassword}, nil); err != nil {
			return "", err
		}
		// An account an admin made changes its password first.
		tok, err := d.login(username, adminPassword)
		if err != nil {
			return "", err
		}
		if err := d.call(ctx, "PUT", "/api/v1/me/password", tok, map[string]any{"current_password": adminPassword,
			"new_password": adminPassword + "-own"}, nil); err != nil {
			return "", err
		}
		return d.login(username, adminPassword+"-own")
	}
	if d.bureau, err = user("bench.admin", "district_admin", d.id); err != nil {
		return nil, err
	}
	for i := range o.schools {
		var sc idOnly
		if err := d.call(ctx, "POST", "/api/v1/orgs", d.admin, map[string]any{"kind": "school", "name": fmt.Sprintf("压测区第%d小学", i+1),
			"parent_id": d.id, "stages": []string{"小学"}, "students": 1500, "staff": 100}, &sc); err != nil {
			return nil, err
		}
		d.schools = append(d.schools, sc.ID)
		for j := range o.teachers {
			tok, err := user(fmt.Sprintf("s%02dt%02d", i, j), "teacher", sc.ID)
			if err != nil {
				return nil, err
			}
			d.phones = append(d.phones, phone{token: tok, school: sc.ID})
		}
	}
	var task idOnly
	if err := d.call(ctx, "POST", "/api/v1/tasks", d.bureau, map[string]any{"name": "本学年应急疏散演练", "templates": []string{"safety_drill"},
		"period": schoolYear(), "org_id": d.id, "min_per_school": 2, "due_on": time.Now().AddDate(0, 3, 0).Format(time.DateOnly)}, &task); err != nil {
		return nil, err
	}
	d.task = task.ID
	d.photo = photo()
	if o.mix == mixRead {
		// Each phone fetched the template once and keeps its ETag.
		for i := range d.phones {
			if d.phones[i].etag, err = d.etag(ctx, templatePath, d.phones[i].token); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// etag is the ETag a GET of path answers.
func (d *district) etag(ctx context.Context, path, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", d.base+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := d.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || tag == "" {
		return "", fmt.Errorf("GET %s: %d %s, ETag %q", path, resp.StatusCode, data, tag)
	}
	return tag, nil
}

type idOnly struct {
	ID string `json:"id"`
}

func (d *district) login(username, password string) (string, error) {
	var tp struct {
		AccessToken string `json:"access_token"`
	}
	err := d.call(context.Background(), "POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": password}, &tp)
	return tp.AccessToken, err
}

// call does one seeding request and decodes its answer into out.
func (d *district) call(ctx context.Context, method, path, token string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// schoolYear is the current school year's period id (from 1 September).
func schoolYear() string {
	now := time.Now()
	y := now.Year()
	if now.Month() < time.September {
		y--
	}
	return fmt.Sprintf("%dAY", y)
}

// photo is a small JPEG as a phone sends it.
func photo() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{R: uint8(x / 3), G: uint8(y / 2), B: 160, A: 255})
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 75})
	return b.Bytes()
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// The mix, in percent of requests.
var mix = []struct {
	kind    string
	percent int
}{
	{"submit", 50}, {"retry", 5}, {"batch", 8}, {"list", 12}, {"photo", 5}, {"totals", 12}, {"progress", 5}, {"export", 3},
}

// target builds the next request of the mix.
func (d *district) target(rng *mrand.Rand, t *vegeta.Target) error {
	if d.mix != mixMixed {
		return d.targetOne(rng, t)
	}
	n, kind := rng.IntN(100), ""
	for _, m := range mix {
		if n < m.percent {
			kind = m.kind
			break
		}
		n -= m.percent
	}
	p := d.phones[rng.IntN(len(d.phones))]
	h := http.Header{"Authorization": {"Bearer " + p.token}, "Content-Type": {"application/json"}}
	t.Header, t.Body = h, nil
	switch kind {
	case "retry":
		// A phone that lost the answer sends the same record again.
		d.mu.Lock()
		if len(d.clientIDs) > 0 {
			first := d.sent[d.clientIDs[rng.IntN(len(d.clientIDs))]]
			d.mu.Unlock()
			t.Method, t.URL, t.Body = "POST", d.base+"/api/v1/records", first.body
			h.Set("Authorization", "Bearer "+first.token)
			return nil
		}
		d.mu.Unlock()
		fallthrough
	case "submit":
		t.Method, t.URL = "POST", d.base+"/api/v1/records"
		t.Body = d.record(rng, p, true)
	case "batch":
		t.Method, t.URL = "POST", d.base+"/api/v1/records:batch"
		t.Body = d.batchBody(rng, p, d.batch)
	case "list":
		t.Method, t.URL = "GET", d.base+"/api/v1/records?limit=50"
	case "photo":
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("client_id", uuid())
		part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="drill.jpg"`},
			"Content-Type": {"image/jpeg"}})
		_, _ = part.Write(d.photo)
		_ = mw.Close()
		h.Set("Content-Type", mw.FormDataContentType())
		t.Method, t.URL, t.Body = "POST", d.base+"/api/v1/attachments", b.Bytes()
	case "totals":
		h.Set("Authorization", "Bearer "+d.bureau)
		t.Method, t.URL = "GET", d.base+"/api/v1/totals?org_id="+d.id+"&group_by=org,template"
	case "progress":
		h.Set("Authorization", "Bearer "+d.bureau)
		t.Method, t.URL = "GET", d.base+"/api/v1/tasks/"+d.task+"/progress"
	case "export":
		h.Set("Authorization", "Bearer "+d.bureau)
		t.Method, t.URL = "GET", d.base+"/api/v1/exports/records?format=csv&template=safety_drill&org_id="+d.schools[rng.IntN(len(d.schools))]
	}
	return nil
}

// targetOne builds the next request of -mix submit, batch or read: the
// phones take turns; under read each asks for itself and for the template
// in turn.
func (d *district) targetOne(rng *mrand.Rand, t *vegeta.Target) error {
	i := d.next
	d.next++
	h := http.Header{"Content-Type": {"application/json"}}
	t.Header, t.Body = h, nil
	switch d.mix {
	case mixSubmit:
		p := d.phones[i%len(d.phones)]
		h.Set("Authorization", "Bearer "+p.token)
		t.Method, t.URL, t.Body = "POST", d.base+"/api/v1/records", d.record(rng, p, false)
	case mixBatch:
		p := d.phones[i%len(d.phones)]
		h.Set("Authorization", "Bearer "+p.token)
		t.Method, t.URL, t.Body = "POST", d.base+"/api/v1/records:batch", d.batchBody(rng, p, d.batch)
	case mixRead:
		p := d.phones[i/2%len(d.phones)]
		h = http.Header{"Authorization": {"Bearer " + p.token}}
		t.Header = h
		if i%2 == 0 {
			t.Method, t.URL = "GET", d.base+"/api/v1/me"
		} else {
			h.Set("If-None-Match", p.etag)
			t.Method, t.URL = "GET", d.base+templatePath
		}
	}
	return nil
}

// batchBody is a batch of n records of phone p.
func (d *district) batchBody(rng *mrand.Rand, p phone, n int) []byte {
	recs := make([]json.RawMessage, 0, n)
	for range n {
		recs = append(recs, d.record(rng, p, false))
	}
	b, _ := json.Marshal(map[string]any{"records": recs})
	return b
}

// record is one drill record of phone p; single ones are kept for retries.
func (d *district) record(rng *mrand.Rand, p phone, single bool) []byte {
	id := uuid()
	day := time.Now().AddDate(0, 0, -rng.IntN(60)).Format(time.DateOnly)
	b, _ := json.Marshal(map[string]any{"client_id": id, "template": "safety_drill", "occurred_on": day, "title": "应急疏散演练",
		"data": map[string]any{"kind": []string{"消防", "地震", "防汛"}[rng.IntN(3)], "drills": 1, "students": 800 + rng.IntN(600), "staff": 60}})
	if single {
		d.mu.Lock()
		d.sent[id] = sent{body: b, token: p.token}
		d.mu.Unlock()
	}
	return b
}

// results are what the load brought back.
type results struct {
	byKind     map[string]*vegeta.Metrics
	codes      map[string]map[int]int
	elapsed    time.Duration
	requests   int
	duplicates int
	records    int // acknowledged by the 2xx answers, a batch's items one by one
	// Connections to the server the load opened in all and at most at
	// once (closed loop only: -rate 0).
	dialed, peakConns int64
}

func kindOf(r *vegeta.Result, batch int) string {
	path := r.URL
	if i := strings.Index(path, "/api/v1/"); i >= 0 {
		path = path[i:]
	}
	switch {
	case r.Method == "POST" && strings.HasPrefix(path, "/api/v1/records:batch"):
		return fmt.Sprintf("POST /records:batch (%d records)", batch)
	case r.Method == "POST" && strings.HasPrefix(path, "/api/v1/records"):
		return "POST /records"
	case r.Method == "GET" && strings.HasPrefix(path, "/api/v1/records"):
		return "GET /records (a phone's list)"
	case strings.HasPrefix(path, "/api/v1/attachments"):
		return "POST /attachments (photo)"
	case strings.HasPrefix(path, "/api/v1/totals"):
		return "GET /totals (district by school × template)"
	case strings.HasPrefix(path, "/api/v1/tasks"):
		return "GET /tasks/{id}/progress"
	case strings.HasPrefix(path, "/api/v1/exports"):
		return "GET /exports/records (a school, CSV)"
	case r.Method == "GET" && path == "/api/v1/me":
		return "GET /me"
	case r.Method == "GET" && path == templatePath:
		return "GET /templates/safety_drill (If-None-Match)"
	}
	return r.Method + " " + path
}

func drive(d *district, o options) results {
	var mu sync.Mutex
	rng := mrand.New(mrand.NewPCG(2025, 12))
	targeter := func(t *vegeta.Target) error {
		mu.Lock()
		defer mu.Unlock()
		return d.target(rng, t)
	}
	var conns *connCounter
	opts := []func(*vegeta.Attacker){vegeta.Connections(o.connections), vegeta.MaxWorkers(256)}
	if o.rate == 0 {
		// Closed loop: exactly -connections workers, each with one request
		// in flight, on at most as many connections (counted, to show it).
		n := uint64(o.connections)
		conns = &connCounter{dialer: &net.Dialer{KeepAlive: 30 * time.Second}}
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: conns.dial}
		opts = []func(*vegeta.Attacker){vegeta.Client(&http.Client{Transport: tr}), vegeta.Workers(n), vegeta.MaxWorkers(n),
			vegeta.Connections(o.connections), vegeta.MaxConnections(o.connections)}
	}
	opts = append(opts, vegeta.Timeout(30*time.Second), vegeta.KeepAlive(true))
	attacker := vegeta.NewAttacker(opts...)
	res := results{byKind: map[string]*vegeta.Metrics{}, codes: map[string]map[int]int{}}
	start := time.Now()
	for r := range attacker.Attack(targeter, vegeta.Rate{Freq: o.rate, Per: time.Second}, o.duration, "huizong") {
		k := kindOf(r, d.batch)
		if res.byKind[k] == nil {
			res.byKind[k], res.codes[k] = &vegeta.Metrics{}, map[int]int{}
		}
		res.byKind[k].Add(r)
		res.codes[k][int(r.Code)]++
		res.requests++
		if r.Code >= 200 && r.Code < 300 && r.Method == "POST" {
			dup, n := d.acknowledge(r)
			res.duplicates += dup
			res.records += n
		}
	}
	res.elapsed = time.Since(start)
	if conns != nil {
		res.dialed, res.peakConns = conns.dialed.Load(), conns.peak.Load()
	}
	for _, m := range res.byKind {
		m.Close()
	}
	return res
}

// connCounter dials the load's connections and counts them: in all and
// the most open at once.
type connCounter struct {
	dialer             *net.Dialer
	dialed, open, peak atomic.Int64
}

func (c *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.dialed.Add(1)
	for n := c.open.Add(1); ; {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return &countedConn{Conn: conn, c: c}, nil
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.open.Add(-1) })
	return cc.Conn.Close()
}

// acknowledge notes the records a 2xx answer acknowledged; it returns how
// many came back under another id than an earlier answer for the same
// client id gave (a retry that made a second record), and how many it
// acknowledged.
func (d *district) acknowledge(r *vegeta.Result) (int, int) {
	type rec struct {
		ID       string `json:"id"`
		ClientID string `json:"client_id"`
	}
	var list []rec
	switch {
	case strings.Contains(r.URL, "records:batch"):
		var b struct {
			Results []struct {
				ClientID string `json:"client_id"`
				ID       string `json:"id"`
				Status   string `json:"status"`
			} `json:"results"`
		}
		_ = json.Unmarshal(r.Body, &b)
		for _, x := range b.Results {
			if x.ID != "" {
				list = append(list, rec{ID: x.ID, ClientID: x.ClientID})
			}
		}
	case strings.HasSuffix(r.URL, "/api/v1/records"):
		var x rec
		if json.Unmarshal(r.Body, &x) == nil && x.ID != "" {
			list = append(list, x)
		}
	}
	dup := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range list {
		switch prev, ok := d.acked[x.ClientID]; {
		case !ok:
			d.acked[x.ClientID] = x.ID
			if _, single := d.sent[x.ClientID]; single {
				d.clientIDs = append(d.clientIDs, x.ClientID)
			}
		case prev != x.ID:
			dup++
		}
	}
	return dup, len(list)
}

// checked is what the end checks found.
type checked struct {
	acked, missing, drifted, units int
	verifyErr                      error
}

// check verifies the totals against a recount and reads every
// acknowledged record back.
func (d *district) check(ctx context.Context, res results) checked {
	var c checked
	var v struct {
		Units   int `json:"units"`
		Drifted int `json:"drifted"`
	}
	c.verifyErr = d.call(ctx, "POST", "/api/v1/totals:verify", d.admin, map[string]any{}, &v)
	c.units, c.drifted = v.Units, v.Drifted
	d.mu.Lock()
	ids := make([]string, 0, len(d.acked))
	for _, id := range d.acked {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	c.acked = len(ids)
	var wg sync.WaitGroup
	var mu sync.Mutex
	work := make(chan string)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := d.call(ctx, "GET", "/api/v1/records/"+id, d.admin, nil, nil); err != nil {
					mu.Lock()
					c.missing++
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return c
}

func report(w io.Writer, o options, res results, rss float64, c checked) {
	offered := fmt.Sprintf("%.0f/s offered", float64(o.rate))
	if o.rate == 0 {
		offered = fmt.Sprintf("closed loop, %d in flight", o.connections)
	}
	mix := ""
	if o.mix != mixMixed {
		mix = ", -mix " + o.mix
	}
	fmt.Fprintf(w, "huizong-bench: %d requests in %s (%s, %.0f/s done), %d phones in %d schools, synchronous=%s%s\n\n",
		res.requests, res.elapsed.Round(time.Millisecond), offered, float64(res.requests)/res.elapsed.Seconds(),
		o.schools*o.teachers, o.schools, o.synchronous, mix)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\trequests\tper s\tsuccess\tp50 ms\tp95 ms\tp99 ms\tstatuses\t")
	for _, k := range slices.Sorted(maps.Keys(res.byKind)) {
		m := res.byKind[k]
		var codes []string
		for _, code := range slices.Sorted(maps.Keys(res.codes[k])) {
			codes = append(codes, fmt.Sprintf("%d×%d", code, res.codes[k][code]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f%%\t%.1f\t%.1f\t%.1f\t%s\t\n", k, m.Requests, float64(m.Requests)/res.elapsed.Seconds(),
			m.Success*100, ms(m.Latencies.P50), ms(m.Latencies.P95), ms(m.Latencies.P99), strings.Join(codes, " "))
	}
	tw.Flush()
	if o.mix == mixSubmit || o.mix == mixBatch {
		fmt.Fprintf(w, "\nrecords acknowledged %d: %.1f records/s, %.1f requests/s\n", res.records, float64(res.records)/res.elapsed.Seconds(),
			float64(res.requests)/res.elapsed.Seconds())
	}
	if o.rate == 0 {
		fmt.Fprintf(w, "\nconnections: %d opened, at most %d open at once (-connections %d)\n", res.dialed, res.peakConns, o.connections)
	}
	fmt.Fprintf(w, "\nserver peak RSS %.0f MiB\n", rss)
	fmt.Fprintf(w, "acknowledged records %d: missing %d, duplicated by retries %d\n", c.acked, c.missing, res.duplicates)
	if c.verifyErr != nil {
		fmt.Fprintf(w, "totals verify: %v\n", c.verifyErr)
	} else {
		fmt.Fprintf(w, "totals verify: %d units recounted, %d cells drifted\n", c.units, c.drifted)
	}
}

// throughput is what a run is measured by: records a second for submit
// and batch, requests a second otherwise.
func throughput(o options, res results) (float64, string) {
	if o.mix == mixSubmit || o.mix == mixBatch {
		return float64(res.records) / res.elapsed.Seconds(), "records/s"
	}
	return float64(res.requests) / res.elapsed.Seconds(), "requests/s"
}

// summarize prints each run's throughput against the first run's.
func summarize(w io.Writer, o options, runs []measured) {
	base, unit := throughput(o, runs[0].res)
	for _, m := range runs[1:] {
		v, _ := throughput(o, m.res)
		ratio := 0.0
		if base > 0 {
			ratio = v / base
		}
		fmt.Fprintf(w, "%s / %s throughput: %.2f× (%.1f vs %.1f %s)\n", m.synchronous, runs[0].synchronous, ratio, v, base, unit)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
