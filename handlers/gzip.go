package handlers

import (
	"compress/gzip"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// compress gzips answers for clients that accept it: phones on slow
// networks pulling lists and the org tree. Small answers are compressed
// too; the cost is noise next to a round trip.
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
		defer func() {
			// Also when a handler panicked: the recovery above us then
			// writes its problem through the plain writer.
			c.Writer = gw.ResponseWriter
			gw.close()
		}()
		c.Next()
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

// gzipWriter decides at the first write whether to compress: not for
// answers without a body, nor for ones already encoded or compressed.
type gzipWriter struct {
	gin.ResponseWriter
	pool    *sync.Pool
	gz      *gzip.Writer
	decided bool
}

func (w *gzipWriter) start() {
	if w.decided {
		return
	}
	w.decided = true
	h := w.ResponseWriter.Header()
	status := w.ResponseWriter.Status()
	if status == http.StatusNoContent || status == http.StatusNotModified || h.Get("Content-Encoding") != "" {
		return
	}
	// Photos, PDFs and zips (XLSX and DOCX are zips too) are compressed
	// already: a second pass costs CPU and saves nothing.
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "image/") || ct == "application/pdf" || ct == "application/zip" ||
		strings.HasPrefix(ct, "application/vnd.openxmlformats-officedocument.") {
		return
	}
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	w.gz = w.pool.Get().(*gzip.Writer)
	w.gz.Reset(w.ResponseWriter)
}

func (w *gzipWriter) Write(b []byte) (int, error) {
	w.start()
	if w.gz == nil {
		return w.ResponseWriter.Write(b)
	}
	return w.gz.Write(b)
}

func (w *gzipWriter) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

// WriteHeaderNow keeps Gin from sending headers before compression is
// decided.
func (w *gzipWriter) WriteHeaderNow() {
	w.start()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *gzipWriter) close() {
	if w.gz == nil {
		return
	}
	_ = w.gz.Close()
	w.gz.Reset(nil)
	w.pool.Put(w.gz)
	w.gz = nil
}
