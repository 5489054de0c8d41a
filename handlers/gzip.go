package handlers

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// gzipMin is the smallest answer worth compressing. Below it gzip's header
// and trailer (18 bytes) and the CPU cost of a compressor win little or
// nothing: most answers under 1 KiB fit one TCP segment either way.
const gzipMin = 1024

// compress gzips answers of 1 KiB or more for clients that accept it:
// phones on slow networks pulling lists and the org tree. Smaller answers
// are buffered and sent plain, with a Content-Length; a handler that
// flushes (a streamed export) is compressed from its first Flush so it
// keeps streaming. Vary: Accept-Encoding is set whenever the client accepts
// gzip, whichever way the answer goes. When a handler panics before
// anything was sent, what it had buffered is dropped so the recovery above
// us writes its problem alone, through the plain writer.
func compress() gin.HandlerFunc {
	pool := sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
	return func(c *gin.Context) {
		if c.Request.Method == http.MethodHead || !acceptsGzip(c.GetHeader("Accept-Encoding")) {
			c.Next()
			return
		}
		c.Header("Vary", "Accept-Encoding")
		gw := &gzipWriter{ResponseWriter: c.Writer, pool: &pool}
		c.Writer = gw
		finished := false
		defer func() {
			// Also when a handler panicked: the recovery above us then
			// writes its problem through the plain writer.
			c.Writer = gw.ResponseWriter
			gw.close(finished)
		}()
		c.Next()
		finished = true
	}
}

// acceptsGzip reads Accept-Encoding, honouring "gzip;q=0".
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// gzipState is where a gzipWriter is in its answer.
type gzipState uint8

const (
	gzipNew     gzipState = iota // nothing written yet
	gzipPending                  // buffering: under gzipMin so far
	gzipPlain                    // passing through uncompressed
	gzipOn                       // compressing
)

// gzipWriter looks at the first write: answers without a body, and ones
// already encoded or compressed, pass through. Others are buffered in buf
// until they outgrow it (then compressed) or end (then sent plain). While
// buffering, Written, Size and WriteHeader behave as if the buffered bytes
// had been sent, as Gin's own writer would.
type gzipWriter struct {
	gin.ResponseWriter
	pool  *sync.Pool
	gz    *gzip.Writer
	state gzipState
	n     int // bytes in buf
	buf   [gzipMin]byte
}

// examine decides, at the first write, whether the answer may be
// compressed at all.
func (w *gzipWriter) examine() {
	if w.state != gzipNew {
		return
	}
	h := w.ResponseWriter.Header()
	status := w.ResponseWriter.Status()
	if status == http.StatusNoContent || status == http.StatusNotModified || h.Get("Content-Encoding") != "" {
		w.state = gzipPlain
		return
	}
	// Photos, PDFs and zips (XLSX and DOCX are zips too) are compressed
	// already: a second pass costs CPU and saves nothing.
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "image/") || ct == "application/pdf" || ct == "application/zip" ||
		strings.HasPrefix(ct, "application/vnd.openxmlformats-officedocument.") {
		w.state = gzipPlain
		return
	}
	w.state = gzipPending
}

// commit ends buffering: it sends the headers and what buf holds,
// compressed or not.
func (w *gzipWriter) commit(compress bool) error {
	h := w.ResponseWriter.Header()
	buffered := w.buf[:w.n]
	w.n = 0
	if compress {
		w.state = gzipOn
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		w.gz = w.pool.Get().(*gzip.Writer)
		w.gz.Reset(w.ResponseWriter)
		if len(buffered) == 0 {
			return nil
		}
		_, err := w.gz.Write(buffered)
		return err
	}
	w.state = gzipPlain
	if h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.Itoa(len(buffered)))
	}
	if len(buffered) == 0 {
		w.ResponseWriter.WriteHeaderNow()
		return nil
	}
	_, err := w.ResponseWriter.Write(buffered)
	return err
}

func (w *gzipWriter) Write(b []byte) (int, error) {
	w.examine()
	if w.state == gzipPending {
		if w.n+len(b) <= len(w.buf) {
			w.n += copy(w.buf[w.n:], b)
			return len(b), nil
		}
		if err := w.commit(true); err != nil {
			return 0, err
		}
	}
	if w.gz != nil {
		return w.gz.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *gzipWriter) WriteString(s string) (int, error) {
	w.examine()
	if w.state == gzipPending && w.n+len(s) <= len(w.buf) {
		w.n += copy(w.buf[w.n:], s)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// WriteHeader keeps the status once a body is buffered, as Gin's writer
// does once it has written one.
func (w *gzipWriter) WriteHeader(code int) {
	if w.state == gzipPending {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// WriteHeaderNow keeps Gin from sending headers before compression is
// decided.
func (w *gzipWriter) WriteHeaderNow() {
	w.examine()
	if w.state == gzipPending {
		return
	}
	w.ResponseWriter.WriteHeaderNow()
}

// Flush sends what was written so far: a handler that flushes streams, so
// its answer is compressed (it is not known to stay small) and the
// compressor flushed too.
func (w *gzipWriter) Flush() {
	w.examine()
	if w.state == gzipPending {
		_ = w.commit(true)
	}
	if w.gz != nil {
		_ = w.gz.Flush()
	}
	w.ResponseWriter.Flush()
}

// Written reports whether the handler wrote, counting buffered bytes.
func (w *gzipWriter) Written() bool {
	if w.state == gzipPending {
		return true
	}
	return w.ResponseWriter.Written()
}

// Size is the body's size so far: the buffered bytes while buffering,
// then the bytes sent (compressed ones when compressing).
func (w *gzipWriter) Size() int {
	if w.state == gzipPending {
		return w.n
	}
	return w.ResponseWriter.Size()
}

// close ends the answer. finished is false when the handler panicked:
// what it buffered is then dropped, unsent.
func (w *gzipWriter) close(finished bool) {
	if w.state == gzipPending {
		if !finished {
			w.state, w.n = gzipPlain, 0
			return
		}
		_ = w.commit(w.n >= gzipMin)
	}
	if w.gz == nil {
		return
	}
	_ = w.gz.Close()
	w.gz.Reset(nil)
	w.pool.Put(w.gz)
	w.gz = nil
}
