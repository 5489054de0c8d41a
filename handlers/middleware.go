package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Keys of values middleware leaves in the gin context.
const (
	requestIDKey = "request_id"
	loggerKey    = "logger"
	principalKey = "principal"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID gives every request an id, echoing a sane X-Request-ID.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// client leaves who is calling (address and user agent) in the request's
// context, for the audit log.
func client() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := services.WithClient(c.Request.Context(), services.ClientInfo{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// logger returns the request's logger.
func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// accessLog writes one line per request: id, method, route, status,
// latency, user.
func accessLog(base *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		l := base.With(slog.String("request_id", c.GetString(requestIDKey)))
		c.Set(loggerKey, l)
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", c.Writer.Size()),
			slog.String("ip", c.ClientIP()),
		}
		if p, ok := principalOf(c); ok {
			attrs = append(attrs, slog.String("user_id", p.User.ID))
		}
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		l.LogAttrs(c.Request.Context(), level, "request", attrs...)
	}
}

// recovery turns a panic into a 500 problem, logged with its stack, so a
// client never sees a dropped connection. http.ErrAbortHandler is let
// through: it is how a handler gives up on a client that left.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			logger(c).ErrorContext(c.Request.Context(), "panic", slog.String("panic", fmt.Sprint(rec)), slog.String("stack", string(debug.Stack())))
			if c.Writer.Written() {
				c.Abort()
				return
			}
			writeProblem(c, http.StatusInternalServerError, "internal", nil)
		}()
		c.Next()
	}
}

// limitBody caps every request body; reading past the cap fails and
// bindJSON answers 413. A declared Content-Length over the cap is refused
// before reading.
func limitBody(max int64, perRoute map[string]int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		max := max
		if n, ok := perRoute[routeKey(c)]; ok {
			max = n
		}
		if c.Request.ContentLength > max {
			writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// noStore keeps authenticated answers out of shared caches unless a
// handler chose its own caching (reference data with ETags).
func noStore() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Next()
	}
}

// cors allows the configured browser origins, and no others; it never
// answers with a wildcard.
func cors(origins []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" {
			c.Next()
			return
		}
		c.Header("Vary", "Origin")
		if !slices.Contains(origins, origin) {
			if c.Request.Method == http.MethodOptions {
				c.AbortWithStatus(http.StatusForbidden)
				return
			}
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "ETag, Location, Retry-After, X-Request-ID")
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, PUT, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept-Language, If-Match, If-None-Match, Idempotency-Key, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// Authenticator turns an access token into the caller.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (services.Principal, error)
}

// maxAuthHeader bounds the Authorization header: a real token is well
// under 1 KiB, and a huge one must be refused before any work.
const maxAuthHeader = 4096

// authenticate requires a valid access token on every route but the
// public ones, and stores the caller in the context.
func authenticate(auth Authenticator, public map[string]bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if public[routeKey(c)] {
			c.Next()
			return
		}
		h := c.GetHeader("Authorization")
		// The scheme is case-insensitive (RFC 9110 section 11.1).
		ok := len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ")
		token := ""
		if ok {
			token = h[len("Bearer "):]
		}
		if !ok || len(h) > maxAuthHeader || strings.TrimSpace(token) == "" {
			respondError(c, &services.Error{Op: "authenticate", Kind: services.KindUnauthorized, Code: "unauthorized"})
			return
		}
		p, err := auth.Authenticate(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			respondError(c, err)
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// authorize enforces the policy table: the route's minimum role. A route
// missing from the table is refused (deny by default).
func authorize(policy map[string]services.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := routeKey(c)
		min, listed := policy[key]
		if min == "" && listed {
			c.Next()
			return
		}
		p, ok := principalOf(c)
		if !listed || !ok || p.User.Role.Rank() < min.Rank() {
			respondError(c, &services.Error{Op: "authorize " + key, Kind: services.KindForbidden, Code: "forbidden"})
			return
		}
		if p.User.MustChangePassword && !beforePasswordChange[key] {
			respondError(c, &services.Error{Op: "authorize " + key, Kind: services.KindForbidden, Code: services.CodePasswordChangeRequired})
			return
		}
		c.Next()
	}
}

// beforePasswordChange are the routes an account that must change its
// password (an admin set or generated it) may use before it does: who am
// I, change it, sign out. Everything else is 403 password_change_required,
// so a password an admin handed on paper cannot be used for real work.
var beforePasswordChange = map[string]bool{
	"GET /api/v1/me":           true,
	"PUT /api/v1/me/password":  true,
	"POST /api/v1/auth/logout": true,
}

func routeKey(c *gin.Context) string { return c.Request.Method + " " + c.FullPath() }

func principalOf(c *gin.Context) (services.Principal, bool) {
	v, ok := c.Get(principalKey)
	if !ok {
		return services.Principal{}, false
	}
	p, ok := v.(services.Principal)
	return p, ok
}

// caller returns the authenticated caller; routes behind authenticate
// always have one.
func caller(c *gin.Context) services.Principal {
	p, _ := principalOf(c)
	return p
}

// spend charges one write to the caller's budget in l, or answers 429 with
// Retry-After when it is spent: one account flooding writes (928 batches
// in 75 s were seen) must not fill the disk or starve the writer.
func spend(l *services.Limiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := charge(c, l, 1); err != nil {
			respondError(c, err)
			return
		}
		c.Next()
	}
}

// charge spends n writes of the caller's budget in l.
func charge(c *gin.Context, l *services.Limiter, n int) error {
	if ok, wait := l.AllowN(caller(c).User.ID, n); !ok {
		return &services.Error{Op: "write budget " + routeKey(c), Kind: services.KindRateLimited, Code: services.CodeRateLimited, RetryAfter: wait}
	}
	return nil
}
