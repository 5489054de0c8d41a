package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// maxReplayBytes bounds an answer kept for replay; larger answers are
// not kept, and a retry runs again (and meets the unique keys).
const maxReplayBytes = 2 << 20

// idempotent honours Idempotency-Key on a create route: the first request
// with a key runs; a retry with the same key and body gets the same answer
// (200, Idempotent-Replayed: true) without creating anything; the same key
// with another body is 422, and a retry while the first still runs is 409.
func idempotent(svc *services.Idempotency) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader("Idempotency-Key")
		if key == "" {
			c.Next()
			return
		}
		body, err := io.ReadAll(c.Request.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
			return
		}
		if err != nil {
			respondError(c, &services.Error{Op: "idempotency", Kind: services.KindBadRequest, Code: "bad_request", Err: err})
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		h.Write([]byte(c.ContentType() + "\x00"))
		h.Write(body)
		ticket, answer, err := svc.Begin(c.Request.Context(), caller(c).User.ID, c.Request.Method+" "+c.Request.URL.Path, key, h.Sum(nil))
		if err != nil {
			respondError(c, err)
			return
		}
		if answer != nil {
			if answer.Location != "" {
				c.Header("Location", answer.Location)
			}
			if answer.ETag != "" {
				c.Header("ETag", answer.ETag)
			}
			c.Header("Idempotent-Replayed", "true")
			c.Abort()
			c.Data(http.StatusOK, "application/json; charset=utf-8", answer.Body)
			return
		}
		w := &captureWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()
		a := services.Answer{Status: w.Status(), Location: w.Header().Get("Location"), ETag: w.Header().Get("ETag"), Body: w.buf.Bytes()}
		if w.overflow {
			a.Status = 0 // too large to keep: release instead
		}
		// The client may have gone; the answer is kept all the same.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
		defer cancel()
		if err := svc.Finish(ctx, ticket, a); err != nil {
			logger(c).WarnContext(ctx, "idempotency: keeping the answer failed", "error", err.Error())
		}
	}
}

// captureWriter keeps a copy of what a handler writes.
type captureWriter struct {
	gin.ResponseWriter
	buf      bytes.Buffer
	overflow bool
}

func (w *captureWriter) keep(n int, write func()) {
	if w.overflow || w.buf.Len()+n > maxReplayBytes {
		w.overflow = true
		w.buf.Reset()
		return
	}
	write()
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.keep(len(b), func() { w.buf.Write(b) })
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) {
	w.keep(len(s), func() { w.buf.WriteString(s) })
	return w.ResponseWriter.WriteString(s)
}
