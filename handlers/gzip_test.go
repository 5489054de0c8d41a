package handlers

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// sized is n bytes of JSON-ish text that compresses well.
func sized(n int) []byte {
	b := bytes.Repeat([]byte(`{"name":"成华区实验小学"},`), n/20+1)
	return b[:n]
}

// written is what a middleware outside compress sees of the answer, as
// the access log does.
type written struct {
	size    int
	written bool
}

// gzipRouter serves h at /x behind the middlewares that surround compress
// in NewRouter, and records the writer's Size and Written as seen outside.
func gzipRouter(h gin.HandlerFunc, seen *written) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.Use(func(c *gin.Context) {
		c.Next()
		seen.size, seen.written = c.Writer.Size(), c.Writer.Written()
	}, accessLog(log), recovery(), compress())
	r.GET("/x", h)
	r.HEAD("/x", h)
	return r
}

func TestCompress(t *testing.T) {
	data := func(n int, ctype string) gin.HandlerFunc {
		return func(c *gin.Context) { c.Data(http.StatusOK, ctype, sized(n)) }
	}
	small := struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}{"o1", "成华区实验小学"}
	tests := []struct {
		name, method, accept string
		h                    gin.HandlerFunc
		status               int
		encoding             string // Content-Encoding wanted
		body                 []byte // decoded body wanted
		length               string // Content-Length wanted: "" for none, "body" for the body's
	}{
		{"small JSON sent plain", "GET", "gzip", func(c *gin.Context) { c.JSON(http.StatusOK, small) },
			200, "", []byte(`{"id":"o1","name":"成华区实验小学"}`), "body"},
		{"5 KB gzipped", "GET", "gzip", data(5000, "application/json"), 200, "gzip", sized(5000), ""},
		{"5 KB in small writes gzipped", "GET", "gzip, deflate", func(c *gin.Context) {
			c.Header("Content-Type", "text/csv")
			for i := 0; i < 50; i++ {
				_, _ = c.Writer.Write(sized(100))
			}
		}, 200, "gzip", bytes.Repeat(sized(100), 50), ""},
		{"1023 bytes plain", "GET", "gzip", data(1023, "text/plain"), 200, "", sized(1023), "1023"},
		{"1024 bytes gzipped", "GET", "gzip", data(1024, "text/plain"), 200, "gzip", sized(1024), ""},
		{"1023 then 1 byte gzipped", "GET", "gzip", func(c *gin.Context) {
			_, _ = c.Writer.WriteString(string(sized(1023)))
			_, _ = c.Writer.WriteString("x")
		}, 200, "gzip", append(sized(1023), 'x'), ""},
		{"1025 bytes in one write gzipped", "GET", "gzip", data(1025, "text/plain"), 200, "gzip", sized(1025), ""},
		{"small problem keeps its status", "GET", "gzip", func(c *gin.Context) {
			writeProblem(c, http.StatusNotFound, "not_found", nil)
		}, 404, "", nil, "body"},
		{"status after a buffered body ignored", "GET", "gzip", func(c *gin.Context) {
			c.String(http.StatusOK, "ok")
			c.Status(http.StatusInternalServerError)
		}, 200, "", []byte("ok"), "2"},
		{"status without body", "GET", "gzip", func(c *gin.Context) { c.AbortWithStatus(http.StatusUnauthorized) },
			401, "", nil, "0"},
		{"304 untouched", "GET", "gzip", func(c *gin.Context) { c.Status(http.StatusNotModified); c.Writer.WriteHeaderNow() },
			304, "", nil, ""},
		{"204 untouched", "GET", "gzip", func(c *gin.Context) { c.AbortWithStatus(http.StatusNoContent) }, 204, "", nil, ""},
		{"HEAD untouched", "HEAD", "gzip", func(c *gin.Context) {
			c.Header("Content-Type", "text/csv")
			c.Header("Content-Length", "5000")
			c.Status(http.StatusOK)
			c.Writer.WriteHeaderNow()
		}, 200, "", nil, "5000"},
		{"gzip;q=0 plain", "GET", "gzip;q=0", data(5000, "application/json"), 200, "", sized(5000), "5000"},
		{"no Accept-Encoding plain", "GET", "", data(5000, "application/json"), 200, "", sized(5000), "5000"},
		{"image not recompressed", "GET", "gzip", data(5000, "image/jpeg"), 200, "", sized(5000), "5000"},
		{"xlsx not recompressed", "GET", "gzip", data(5000, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
			200, "", sized(5000), "5000"},
		{"already encoded untouched", "GET", "gzip", func(c *gin.Context) {
			c.Header("Content-Encoding", "br")
			c.Data(http.StatusOK, "text/plain", sized(5000))
		}, 200, "br", sized(5000), "5000"},
		{"Content-Length of a large answer dropped", "GET", "gzip", func(c *gin.Context) {
			c.Header("Content-Length", "5000")
			c.Data(http.StatusOK, "text/plain", sized(5000))
		}, 200, "gzip", sized(5000), ""},
		{"Content-Length of a small answer kept", "GET", "gzip", func(c *gin.Context) {
			c.Header("Content-Length", "10")
			c.Data(http.StatusOK, "text/plain", sized(10))
		}, 200, "", sized(10), "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen written
			req := httptest.NewRequest(tt.method, "/x", nil)
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			gzipRouter(tt.h, &seen).ServeHTTP(rec, req)
			res := rec.Result()
			if got := res.StatusCode; got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.encoding)
			}
			wantVary := ""
			if tt.method != "HEAD" && acceptsGzip(tt.accept) {
				wantVary = "Accept-Encoding"
			}
			if got := res.Header.Get("Vary"); got != wantVary {
				t.Errorf("Vary %q, want %q", got, wantVary)
			}
			wire := rec.Body.Bytes()
			body := wire
			if tt.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(wire))
				if err != nil {
					t.Fatalf("gzip: %v", err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("gunzip: %v", err)
				}
				if len(wire) >= len(body) {
					t.Errorf("%d bytes on the wire for %d", len(wire), len(body))
				}
			}
			wantLength := tt.length
			if wantLength == "body" {
				wantLength = strconv.Itoa(len(body))
			}
			if got := res.Header.Get("Content-Length"); got != wantLength {
				t.Errorf("Content-Length %q, want %q", got, wantLength)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.status == http.StatusNotFound && !bytes.Contains(body, []byte(`"not_found"`)) {
				t.Errorf("problem body %q", body)
			}
			// Size and Written, as the access log reads them.
			if !seen.written || seen.size != len(wire) {
				t.Errorf("Size() %d, Written() %v; want %d, true", seen.size, seen.written, len(wire))
			}
		})
	}
}

// TestCompressSeenInsideHandler: while an answer is buffered, the handler
// and the middleware inside compress see it as written, as they would
// with Gin's own writer.
func TestCompressSeenInsideHandler(t *testing.T) {
	var seen written
	var inside []written
	h := func(c *gin.Context) {
		inside = append(inside, written{c.Writer.Size(), c.Writer.Written()})
		c.String(http.StatusOK, "ok")
		inside = append(inside, written{c.Writer.Size(), c.Writer.Written()})
	}
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	gzipRouter(h, &seen).ServeHTTP(httptest.NewRecorder(), req)
	want := []written{{-1, false}, {2, true}}
	if len(inside) != 2 || inside[0] != want[0] || inside[1] != want[1] {
		t.Errorf("inside the handler: got %+v, want %+v", inside, want)
	}
}

// TestCompressPanic: what a handler buffered before panicking is dropped,
// so the client gets the recovery's problem alone.
func TestCompressPanic(t *testing.T) {
	var seen written
	h := func(c *gin.Context) {
		c.Header("Content-Type", "text/csv")
		_, _ = c.Writer.WriteString("half a row,")
		panic("boom")
	}
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	gzipRouter(h, &seen).ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Encoding") != "" ||
		strings.Contains(rec.Body.String(), "half a row") || !strings.Contains(rec.Body.String(), `"internal"`) {
		t.Errorf("got %d %v %q, want the 500 problem alone", rec.Code, rec.Header(), rec.Body)
	}
}

// TestCompressStreams: a handler that flushes before reaching the
// threshold is compressed, and its first chunk reaches the client while
// the handler is still running.
func TestCompressStreams(t *testing.T) {
	first, rest := []byte("id,name\r\n"), sized(3000)
	release := make(chan struct{})
	h := func(c *gin.Context) {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Status(http.StatusOK)
		_, _ = c.Writer.Write(first)
		c.Writer.Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = c.Writer.Write(rest)
	}
	var seen written
	srv := httptest.NewServer(gzipRouter(h, &seen))
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip") // set ourselves: the transport leaves the body encoded
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got := res.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(first))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(zr, got); done <- err }()
	select {
	case err := <-done:
		if err != nil || !bytes.Equal(got, first) {
			t.Fatalf("first chunk %q, %v", got, err)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("first chunk not received while the handler runs: not streamed")
	}
	close(release)
	tail, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(tail, rest) {
		t.Errorf("rest: %d bytes, %v; want %d", len(tail), err, len(rest))
	}
}
