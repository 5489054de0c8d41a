package main

// The export benchmark: a city admin downloads every record of the city
// (1,000,000 approved records by default; HUIZONG_BENCH_RECORDS changes
// it) from GET /api/v1/exports/records, as XLSX and as CSV (a zip of one
// CSV per template), over loopback HTTP through the real router, the
// client in the same process:
//
//	go test -run '^$' -bench Export -benchtime 1x -timeout 60m ./cmd/huizong/
//
// It reads the store the totals benchmark of repository/sqlite builds
// ($TMPDIR/huizong-bench-<n>-v4, built here too the first time: several
// minutes for 1,000,000 records). The first run adds to it what a
// server's first start adds (the sysadmin, the built-in indicators) and a
// city admin account, each run sessions and audit entries; the totals
// benchmark reads none of them. Each export reports its download time (s,
// from the request to the last byte), time to first byte (ttfb-s), rows/s,
// MB/s of the file, the file and wire sizes (the client asks for gzip, as
// browsers do) and the process's peak resident memory during the export
// (peak-RSS-MB, MiB; server and client together, the client streaming
// the body to a temp file) with the resident memory it started from
// (base-RSS-MB) and when in the download the peak came (peak-at-%).
// After the timed part the file is checked: the CSVs' rows are counted
// through archive/zip and encoding/csv, the workbook's rows through
// excelize's streaming row iterator, and either must hold every record.
//
// To see what the memory holds at its peak, HUIZONG_BENCH_HEAPPROFILE=file
// writes a heap profile each time the resident memory has grown by 32 MiB
// since the last one, so the file last written is the heap near the peak
// (go tool pprof -sample_index=inuse_space -top file); -cpuprofile and
// -memprofile work as usual (the checks after the timed part are in them:
// leave them out with -ignore 'xlsxRows|zipCSVRows').

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/huizong/huizong/repository/sqlite"
)

func BenchmarkExport(b *testing.B) {
	if usingMongo() {
		b.Skip("the export benchmark reads the embedded store the totals benchmark builds")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("HUIZONG_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	dir := syntheticStore(b, n)
	s := &testServer{t: b, dir: dir, clock: &clock{now: time.Now().UTC()}}
	s.cfg = testConfig(b, dir, map[string]string{"HUIZONG_LOGIN_PER_IP": "100000", "HUIZONG_LOGIN_PER_ACCOUNT": "100000"})
	s.start()
	token := s.benchCityAdmin()
	for _, format := range []string{"xlsx", "csv"} {
		b.Run(format, func(b *testing.B) {
			file := filepath.Join(b.TempDir(), "export")
			var (
				total           time.Duration
				ttfb            time.Duration
				fileBytes, wire int64
				peak, base      int64 // KiB
				peakAt          float64
				encoding        string
			)
			for b.Loop() {
				d, err := s.download(token, "/api/v1/exports/records?org_id=city&format="+format, file)
				if err != nil {
					b.Fatal(err)
				}
				total += d.elapsed
				ttfb += d.ttfb
				fileBytes, wire, encoding = d.fileBytes, d.wire, d.encoding
				if d.peakKiB > peak {
					peak, base, peakAt = d.peakKiB, d.baseKiB, d.peakAt
				}
			}
			b.StopTimer()
			// Checked after the timed part: the file holds every record.
			start := time.Now()
			var sheets map[string]int
			var err error
			if format == "xlsx" {
				sheets, err = xlsxRows(file)
			} else {
				sheets, err = zipCSVRows(file)
			}
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			for _, r := range sheets {
				rows += r
			}
			if rows != n {
				b.Fatalf("%s holds %d data rows, want %d; by sheet: %v", format, rows, n, sheets)
			}
			iters := float64(b.N)
			secs := total.Seconds() / iters
			b.ReportMetric(secs, "s")
			b.ReportMetric(ttfb.Seconds()/iters, "ttfb-s")
			b.ReportMetric(float64(rows)/secs, "rows/s")
			b.ReportMetric(float64(fileBytes)/1e6/secs, "MB/s")
			b.ReportMetric(float64(fileBytes)/1e6, "file-MB")
			b.ReportMetric(float64(wire)/1e6, "wire-MB")
			if peak > 0 {
				b.ReportMetric(float64(peak)/1024, "peak-RSS-MB")
				b.ReportMetric(float64(base)/1024, "base-RSS-MB")
				b.ReportMetric(peakAt, "peak-at-%")
			}
			b.Logf("%s: %d rows in %d sheets, %.1f MB (%.1f MB on the wire, Content-Encoding %q) in %.1fs; checked in %.1fs",
				format, rows, len(sheets), float64(fileBytes)/1e6, float64(wire)/1e6, encoding, secs, time.Since(start).Seconds())
		})
	}
}

// syntheticStore is the directory of the synthetic city of n records,
// loaded the first time exactly as the totals benchmark loads it (same
// directory, same "loaded" mark).
func syntheticStore(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("huizong-bench-%d-v4", n))
	if _, err := os.Stat(filepath.Join(dir, "loaded")); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	err = st.LoadSynthetic(ctx, n)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "loaded"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d records in %s", n, time.Since(start).Round(time.Second))
	return dir
}

// benchCityAdmin signs in the city admin of the synthetic city, creating
// the account (through the sysadmin) on the store's first export run.
func (s *testServer) benchCityAdmin() string {
	s.t.Helper()
	const login = "benchcity"
	if r := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": login, "password": userPassword}}); r.status != http.StatusOK {
		s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/users", token: s.adminToken(), body: map[string]any{
			"username": login, "name": "市教育局管理员", "mobile": "13900000001", "role": "city_admin", "org_id": "city", "password": userPassword,
		}})
	}
	return s.activate(login, userPassword)
}

// downloaded is one finished download.
type downloaded struct {
	elapsed, ttfb    time.Duration
	fileBytes, wire  int64
	encoding         string
	peakKiB, baseKiB int64   // VmHWM during it and VmRSS before; 0 when unknown
	peakAt           float64 // when the resident memory peaked, % of elapsed
}

// download GETs path into file, streaming: the body as sent (gzipped
// when the server compresses it) goes to a temp file beside file and is
// decoded into file after the clock stops, so the client's own work and
// memory during the timed part are a socket read and a file write.
func (s *testServer) download(token, path, file string) (downloaded, error) {
	var d downloaded
	raw := file + ".wire"
	out, err := os.Create(raw)
	if err != nil {
		return d, err
	}
	defer os.Remove(raw)
	defer out.Close()
	hr, err := http.NewRequest(http.MethodGet, s.http.URL+path, nil)
	if err != nil {
		return d, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Accept-Encoding", "gzip") // as browsers do; decoded below

	runtime.GC()
	debug.FreeOSMemory()
	d.baseKiB = resetPeakRSS()
	watch := watchRSS(os.Getenv("HUIZONG_BENCH_HEAPPROFILE"))
	start := time.Now()
	resp, err := s.http.Client().Do(hr)
	if err != nil {
		watch.stop(start)
		return d, err
	}
	d.ttfb = time.Since(start)
	d.wire, err = io.Copy(out, resp.Body)
	resp.Body.Close()
	d.elapsed = time.Since(start)
	at := watch.stop(start)
	if d.baseKiB > 0 {
		d.peakKiB = statusKiB("VmHWM")
		if d.elapsed > 0 {
			d.peakAt = 100 * at.Seconds() / d.elapsed.Seconds()
		}
	}
	if err != nil {
		return d, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := os.ReadFile(raw)
		return d, fmt.Errorf("GET %s: %s: %.500s", path, resp.Status, body)
	}
	d.encoding = resp.Header.Get("Content-Encoding")
	// Decode (untimed) into file.
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return d, err
	}
	var src io.Reader = bufio.NewReaderSize(out, 1<<20)
	if d.encoding == "gzip" {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return d, err
		}
		src = zr
	}
	dst, err := os.Create(file)
	if err != nil {
		return d, err
	}
	d.fileBytes, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return d, err
}

// resetPeakRSS resets the process's peak resident memory (VmHWM) to its
// current resident memory, which it returns in KiB; 0 where /proc cannot
// do it (not Linux).
func resetPeakRSS() int64 {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0
	}
	return statusKiB("VmRSS")
}

// statusKiB reads a "kB" line of /proc/self/status (VmRSS, VmHWM); 0 when
// it cannot.
func statusKiB(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(name) != key {
			continue
		}
		v, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		return v
	}
	return 0
}

// rssWatch samples the resident memory every 50ms to tell when it peaked
// and, given a file, writes a heap profile into it each time the resident
// memory has grown by 32 MiB since the last one.
type rssWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	max  int64
	at   time.Time
}

func watchRSS(heapProfile string) *rssWatch {
	w := &rssWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		profiled := int64(0)
		for {
			v := statusKiB("VmRSS")
			if v > w.max {
				w.max, w.at = v, time.Now()
			}
			if heapProfile != "" && v > profiled+32<<10 {
				profiled = v
				if f, err := os.Create(heapProfile); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns how long after start the largest
// sample came.
func (w *rssWatch) stop(start time.Time) time.Duration {
	close(w.done)
	w.wg.Wait()
	if w.at.IsZero() {
		return 0
	}
	return w.at.Sub(start)
}

// xlsxRows counts the data rows (all rows but the header) of each sheet
// of the workbook in file with excelize's streaming row iterator.
func xlsxRows(file string) (map[string]int, error) {
	f, err := excelize.OpenFile(file)
	if err != nil {
		return nil, fmt.Errorf("not a workbook: %w", err)
	}
	defer f.Close()
	out := map[string]int{}
	for _, sheet := range f.GetSheetList() {
		rows, err := f.Rows(sheet)
		if err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sheet, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		err = rows.Error()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sheet, err)
		}
		out[sheet] = max(n-1, 0)
	}
	return out, nil
}

// zipCSVRows counts the data rows (all records but the header) of each
// CSV file in the zip file (or of file itself when it is one CSV).
func zipCSVRows(file string) (map[string]int, error) {
	count := func(r io.Reader) (int, error) {
		cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
		cr.FieldsPerRecord, cr.ReuseRecord = -1, true
		n := 0
		for {
			_, err := cr.Read()
			if err == io.EOF {
				return max(n-1, 0), nil
			}
			if err != nil {
				return 0, err
			}
			n++
		}
	}
	z, err := zip.OpenReader(file)
	if err != nil {
		f, ferr := os.Open(file)
		if ferr != nil {
			return nil, ferr
		}
		defer f.Close()
		n, err := count(f)
		return map[string]int{filepath.Base(file): n}, err
	}
	defer z.Close()
	out := map[string]int{}
	for _, zf := range z.File {
		r, err := zf.Open()
		if err != nil {
			return nil, err
		}
		n, err := count(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", zf.Name, err)
		}
		out[zf.Name] = n
	}
	return out, nil
}
