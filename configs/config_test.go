package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "none.yaml"), env(nil))
	if err == nil {
		t.Fatalf("Load of a missing explicit file: got nil error, config %+v", c)
	}
	c, err = Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DataDir != "./data" || c.Auth.AccessTTL.Std() != 15*time.Minute ||
		c.Auth.RefreshTTL.Std() != 720*time.Hour || c.SQLite.Synchronous != "FULL" || c.Location.String() != "Asia/Shanghai" {
		t.Errorf("defaults: got %+v", c)
	}
}

func TestLoadEnvWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("addr: \":9000\"\nauth:\n  access_ttl: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, env(map[string]string{
		"HUIZONG_ADDR":            "127.0.0.1:7000",
		"MONGODB_URI":             "mongodb://db:27017",
		"HUIZONG_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
		"HUIZONG_ADMIN_PASSWORD":  "s3cret-pass",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.Auth.AccessTTL.Std() != 5*time.Minute || c.MongoDB.URI != "mongodb://db:27017" ||
		len(c.TrustedProxies) != 2 || c.AdminPassword != "s3cret-pass" {
		t.Errorf("got %+v", c)
	}
}

func TestLoadRejectsNamingTheKey(t *testing.T) {
	tests := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown key", "adr: x\n", nil, "adr"},
		{"bad duration in file", "auth:\n  access_ttl: soon\n", nil, "soon"},
		{"bad addr", "", map[string]string{"HUIZONG_ADDR": "8080"}, "addr"},
		{"bad mode", "", map[string]string{"HUIZONG_MODE": "prod"}, "mode"},
		{"bad ttl env", "", map[string]string{"HUIZONG_ACCESS_TTL": "15"}, "auth.access_ttl"},
		{"ttl too long", "", map[string]string{"HUIZONG_ACCESS_TTL": "48h"}, "auth.access_ttl"},
		{"bad proxy", "", map[string]string{"HUIZONG_TRUSTED_PROXIES": "proxy.local"}, "trusted_proxies"},
		{"wildcard cors", "", map[string]string{"HUIZONG_CORS_ORIGINS": "*"}, "cors_origins"},
		{"bad body limit", "", map[string]string{"HUIZONG_MAX_BODY_BYTES": "lots"}, "max_body_bytes"},
		{"bad zone", "", map[string]string{"HUIZONG_TIMEZONE": "Mars/Base"}, "timezone"},
		{"bad synchronous", "", map[string]string{"HUIZONG_SQLITE_SYNCHRONOUS": "OFF"}, "sqlite.synchronous"},
		{"bad uri", "", map[string]string{"MONGODB_URI": "http://x"}, "mongodb.uri"},
		{"bad log level", "", map[string]string{"HUIZONG_LOG_LEVEL": "loud"}, "log.level"},
		{"short admin password", "", map[string]string{"HUIZONG_ADMIN_PASSWORD": "123"}, "HUIZONG_ADMIN_PASSWORD"},
		{"debug on all interfaces", "", map[string]string{"HUIZONG_DEBUG_ADDR": ":6060"}, "debug_addr"},
		{"debug on a public address", "debug_addr: \"10.0.0.5:6060\"\n", nil, "debug_addr"},
		{"debug without port", "", map[string]string{"HUIZONG_DEBUG_ADDR": "127.0.0.1"}, "debug_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestExampleDocumentsEveryKey keeps the example file honest: every
// environment variable is named in a comment there.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var c Config
	for _, k := range c.envKeys() {
		if !strings.Contains(string(Example), k.env) {
			t.Errorf("configs/huizong.yaml does not mention %s (%s)", k.env, k.key)
		}
	}
}

func TestLoadDebugAddr(t *testing.T) {
	tests := []struct {
		env, want string
	}{
		{"", ""}, // off by default
		{"127.0.0.1:6060", "127.0.0.1:6060"},
		{"[::1]:6060", "[::1]:6060"},
		{"localhost:6060", "localhost:6060"},
	}
	for _, tt := range tests {
		c, err := Load("", env(map[string]string{"HUIZONG_DEBUG_ADDR": tt.env}))
		if err != nil {
			t.Errorf("HUIZONG_DEBUG_ADDR=%q: %v", tt.env, err)
			continue
		}
		if c.DebugAddr != tt.want {
			t.Errorf("HUIZONG_DEBUG_ADDR=%q: DebugAddr %q, want %q", tt.env, c.DebugAddr, tt.want)
		}
	}
}
