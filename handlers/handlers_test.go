package handlers

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		header string
		want   lang
	}{
		{"", zh},
		{"zh-CN,zh;q=0.9", zh},
		{"en-US,en;q=0.9", en},
		{"en-GB", en},
		{"zh-TW", zh},
		{"fr-FR", zh},
		{"fr-FR,en;q=0.5", en},
		{"en;q=0.2,zh;q=0.8", zh},
		{"*", zh},
		{"garbage;;;q=", zh},
	}
	for _, tt := range tests {
		if got := negotiate(tt.header); got != tt.want {
			t.Errorf("negotiate(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		l    lang
		code string
		args map[string]any
		want string
	}{
		{zh, "max_length", map[string]any{"max": 100}, "长度不能超过100个字符"},
		{en, "max_length", map[string]any{"max": 100}, "must have at most 100 characters"},
		{zh, "duplicate_in_file", map[string]any{"line": 3}, "与第3行重复"},
		{zh, "no_such_code", nil, "无效"},
		{en, "no_such_code", nil, "is invalid"},
	}
	for _, tt := range tests {
		if got := message(tt.l, tt.code, tt.args); got != tt.want {
			t.Errorf("message(%v, %s) = %q, want %q", tt.l, tt.code, got, tt.want)
		}
	}
	for code, m := range fieldMessages {
		if m.zh == "" || m.en == "" {
			t.Errorf("field message %s lacks a language", code)
		}
	}
	for code, m := range titles {
		if m.zh == "" || m.en == "" {
			t.Errorf("title %s lacks a language", code)
		}
	}
	for _, code := range defaultCode {
		if _, ok := titles[code]; !ok {
			t.Errorf("problem code %s has no title", code)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []string{"06h0mk6rfk8zw60dg82tf0kbbc", "x"} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("cursor of %q came back %q, %v", id, got, err)
		}
	}
	for _, bad := range []string{"$ne", "aWQ6", "bm90LWFuLWlk", "%%%"} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted", bad)
		}
	}
}

func TestIfMatch(t *testing.T) {
	gin.SetMode(gin.TestMode)
	tests := []struct {
		header string
		want   int64
		ok     bool
	}{
		{`"v3"`, 3, true},
		{`v3`, 3, true},
		{`"v0"`, 0, false},
		{`"3"`, 0, false},
		{`W/"v3"`, 0, false},
		{`*`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("PATCH", "/", nil)
		if tt.header != "" {
			c.Request.Header.Set("If-Match", tt.header)
		}
		got, err := ifMatch(c)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ifMatch(%q) = %d, %v", tt.header, got, err)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"deflate, gzip;q=0.8":  true,
		"gzip;q=0":             false,
		"gzip; q=0.0, deflate": false,
		"br, identity":         false,
	}
	for header, want := range tests {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
