// Package configs loads huizong's configuration: defaults, then the YAML
// file (configs/huizong.yaml documents every key), then HUIZONG_*
// environment variables (and MONGODB_URI), which win. A bad value fails at
// start with an error naming the key.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Example is the documented example file; its values are the defaults.
//
//go:embed huizong.yaml
var Example []byte

// Config is huizong's whole configuration.
type Config struct {
	Addr     string `yaml:"addr"`
	Mode     string `yaml:"mode"`
	DataDir  string `yaml:"data_dir"`
	Timezone string `yaml:"timezone"`
	// SpringTermMonth is the month the second semester (下学期) starts;
	// the first runs from September to the month before.
	SpringTermMonth int      `yaml:"spring_term_month"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	CORSOrigins     []string `yaml:"cors_origins"`
	TrustedProxies  []string `yaml:"trusted_proxies"`
	SQLite          SQLite   `yaml:"sqlite"`
	MongoDB         MongoDB  `yaml:"mongodb"`
	Auth            Auth     `yaml:"auth"`
	Log             Log      `yaml:"log"`
	// ShutdownDelay is how long, after SIGTERM, /readyz answers 503 while
	// the server keeps serving, so a load balancer stops sending requests
	// before the listener closes.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	Limits        Limits   `yaml:"limits"`
	// SwaggerUI serves the interactive API docs at /swagger/index.html;
	// the spec (/swagger/doc.json) is served either way.
	SwaggerUI bool `yaml:"swagger_ui"`
	// DebugAddr is where net/http/pprof is served, on loopback only (an
	// operator tunnels to it, e.g. ssh -L); empty, the default, serves
	// nothing.
	DebugAddr string `yaml:"debug_addr"`

	// AdminPassword is the first sysadmin's password, from
	// HUIZONG_ADMIN_PASSWORD only (never from a file).
	AdminPassword string `yaml:"-"`
	// Location is Timezone, loaded.
	Location *time.Location `yaml:"-"`
}

// SQLite configures the embedded store.
type SQLite struct {
	Synchronous string `yaml:"synchronous"`
}

// MongoDB configures the MongoDB store.
type MongoDB struct {
	URI      string   `yaml:"uri"`
	Database string   `yaml:"database"`
	Timeout  Duration `yaml:"timeout"`
}

// Auth configures sign-in and tokens.
type Auth struct {
	AccessTTL       Duration `yaml:"access_ttl"`
	RefreshTTL      Duration `yaml:"refresh_ttl"`
	RefreshGrace    Duration `yaml:"refresh_grace"`
	Issuer          string   `yaml:"issuer"`
	Audience        string   `yaml:"audience"`
	SigningKeyFile  string   `yaml:"signing_key_file"`
	LoginPerAccount int      `yaml:"login_per_account"`
	LoginPerIP      int      `yaml:"login_per_ip"`
}

// Limits are the per-user write budgets: token buckets of a burst and a
// refill rate per second, and a quota of stored attachment bytes.
type Limits struct {
	RecordBurst       int     `yaml:"record_burst"`
	RecordRate        float64 `yaml:"record_rate"`
	AttachmentBurst   int     `yaml:"attachment_burst"`
	AttachmentRate    float64 `yaml:"attachment_rate"`
	AttachmentQuotaMB int64   `yaml:"attachment_quota_mb"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Duration is a time.Duration written as "15m" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("not a duration like 90s or 15m: %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// DefaultPath is where Load looks when no path is given.
const DefaultPath = "configs/huizong.yaml"

// Load builds the configuration from the defaults, the file at path (when
// path is empty, DefaultPath if it exists) and the environment.
func Load(path string, getenv func(string) string) (Config, error) {
	var c Config
	if err := decode(Example, &c); err != nil {
		return Config{}, fmt.Errorf("config: built-in defaults: %w", err)
	}
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decode(data, &c); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.applyEnv(getenv); err != nil {
		return Config{}, err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func decode(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// envKeys maps each environment variable to the key it overrides and how
// to set it.
func (c *Config) envKeys() []envKey {
	return []envKey{
		{"HUIZONG_ADDR", "addr", str(&c.Addr)},
		{"HUIZONG_MODE", "mode", str(&c.Mode)},
		{"HUIZONG_DATA_DIR", "data_dir", str(&c.DataDir)},
		{"HUIZONG_TIMEZONE", "timezone", str(&c.Timezone)},
		{"HUIZONG_SPRING_TERM_MONTH", "spring_term_month", intSetter(&c.SpringTermMonth)},
		{"HUIZONG_MAX_BODY_BYTES", "max_body_bytes", int64Setter(&c.MaxBodyBytes)},
		{"HUIZONG_CORS_ORIGINS", "cors_origins", list(&c.CORSOrigins)},
		{"HUIZONG_TRUSTED_PROXIES", "trusted_proxies", list(&c.TrustedProxies)},
		{"HUIZONG_SQLITE_SYNCHRONOUS", "sqlite.synchronous", str(&c.SQLite.Synchronous)},
		{"MONGODB_URI", "mongodb.uri", str(&c.MongoDB.URI)},
		{"HUIZONG_MONGODB_DATABASE", "mongodb.database", str(&c.MongoDB.Database)},
		{"HUIZONG_MONGODB_TIMEOUT", "mongodb.timeout", duration(&c.MongoDB.Timeout)},
		{"HUIZONG_ACCESS_TTL", "auth.access_ttl", duration(&c.Auth.AccessTTL)},
		{"HUIZONG_REFRESH_TTL", "auth.refresh_ttl", duration(&c.Auth.RefreshTTL)},
		{"HUIZONG_REFRESH_GRACE", "auth.refresh_grace", duration(&c.Auth.RefreshGrace)},
		{"HUIZONG_TOKEN_ISSUER", "auth.issuer", str(&c.Auth.Issuer)},
		{"HUIZONG_TOKEN_AUDIENCE", "auth.audience", str(&c.Auth.Audience)},
		{"HUIZONG_SIGNING_KEY_FILE", "auth.signing_key_file", str(&c.Auth.SigningKeyFile)},
		{"HUIZONG_LOGIN_PER_ACCOUNT", "auth.login_per_account", intSetter(&c.Auth.LoginPerAccount)},
		{"HUIZONG_LOGIN_PER_IP", "auth.login_per_ip", intSetter(&c.Auth.LoginPerIP)},
		{"HUIZONG_SHUTDOWN_DELAY", "shutdown_delay", duration(&c.ShutdownDelay)},
		{"HUIZONG_RECORD_BURST", "limits.record_burst", intSetter(&c.Limits.RecordBurst)},
		{"HUIZONG_RECORD_RATE", "limits.record_rate", floatSetter(&c.Limits.RecordRate)},
		{"HUIZONG_ATTACHMENT_BURST", "limits.attachment_burst", intSetter(&c.Limits.AttachmentBurst)},
		{"HUIZONG_ATTACHMENT_RATE", "limits.attachment_rate", floatSetter(&c.Limits.AttachmentRate)},
		{"HUIZONG_ATTACHMENT_QUOTA_MB", "limits.attachment_quota_mb", int64Setter(&c.Limits.AttachmentQuotaMB)},
		{"HUIZONG_SWAGGER_UI", "swagger_ui", boolSetter(&c.SwaggerUI)},
		{"HUIZONG_DEBUG_ADDR", "debug_addr", str(&c.DebugAddr)},
		{"HUIZONG_LOG_LEVEL", "log.level", str(&c.Log.Level)},
		{"HUIZONG_LOG_FORMAT", "log.format", str(&c.Log.Format)},
		{"HUIZONG_ADMIN_PASSWORD", "admin password", str(&c.AdminPassword)},
	}
}

type envKey struct {
	env, key string
	set      func(string) error
}

func (c *Config) applyEnv(getenv func(string) string) error {
	for _, k := range c.envKeys() {
		v := getenv(k.env)
		if v == "" {
			continue
		}
		if err := k.set(v); err != nil {
			return fmt.Errorf("config: %s (%s): %w", k.env, k.key, err)
		}
	}
	return nil
}

func str(p *string) func(string) error {
	return func(v string) error { *p = v; return nil }
}

func list(p *[]string) func(string) error {
	return func(v string) error {
		*p = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p = append(*p, s)
			}
		}
		return nil
	}
}

func intSetter(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", v)
		}
		*p = n
		return nil
	}
}

func int64Setter(p *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", v)
		}
		*p = n
		return nil
	}
}

func floatSetter(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		*p = f
		return nil
	}
}

func boolSetter(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*p = b
		return nil
	}
}

func duration(p *Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration like 90s or 15m: %q", v)
		}
		*p = Duration(d)
		return nil
	}
}

func (c *Config) validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("addr", "want host:port such as :8080, got %q", c.Addr)
	}
	if c.Mode != "development" && c.Mode != "production" {
		return bad("mode", "want development or production, got %q", c.Mode)
	}
	if c.MongoDB.URI == "" && c.DataDir == "" {
		return bad("data_dir", "must be set when mongodb.uri is empty")
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return bad("timezone", "unknown time zone %q", c.Timezone)
	}
	c.Location = loc
	if c.SpringTermMonth < 1 || c.SpringTermMonth > 12 || c.SpringTermMonth == 9 {
		return bad("spring_term_month", "want a month 1-12 other than 9, got %d", c.SpringTermMonth)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<30 {
		return bad("max_body_bytes", "want 1024 to 1073741824, got %d", c.MaxBodyBytes)
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return bad("trusted_proxies", "%q is neither an IP nor a CIDR", p)
			}
		}
	}
	for _, o := range c.CORSOrigins {
		if o == "*" || !(strings.HasPrefix(o, "https://") || strings.HasPrefix(o, "http://")) {
			return bad("cors_origins", "want explicit origins like https://app.example.cn, got %q", o)
		}
	}
	if s := strings.ToUpper(c.SQLite.Synchronous); s != "FULL" && s != "NORMAL" {
		return bad("sqlite.synchronous", "want FULL or NORMAL, got %q", c.SQLite.Synchronous)
	}
	c.SQLite.Synchronous = strings.ToUpper(c.SQLite.Synchronous)
	if c.MongoDB.URI != "" && !strings.HasPrefix(c.MongoDB.URI, "mongodb://") && !strings.HasPrefix(c.MongoDB.URI, "mongodb+srv://") {
		return bad("mongodb.uri", "want a mongodb:// or mongodb+srv:// connection string")
	}
	if c.MongoDB.Database == "" {
		return bad("mongodb.database", "must not be empty")
	}
	for _, d := range []struct {
		key      string
		v        Duration
		min, max time.Duration
	}{
		{"mongodb.timeout", c.MongoDB.Timeout, 100 * time.Millisecond, 5 * time.Minute},
		{"auth.access_ttl", c.Auth.AccessTTL, time.Minute, 24 * time.Hour},
		{"auth.refresh_ttl", c.Auth.RefreshTTL, time.Hour, 365 * 24 * time.Hour},
		{"auth.refresh_grace", c.Auth.RefreshGrace, 0, 5 * time.Minute},
		{"shutdown_delay", c.ShutdownDelay, 0, 5 * time.Minute},
	} {
		if d.v.Std() < d.min || d.v.Std() > d.max {
			return bad(d.key, "want %v to %v, got %v", d.min, d.max, d.v.Std())
		}
	}
	if c.Auth.Issuer == "" {
		return bad("auth.issuer", "must not be empty")
	}
	if c.Auth.Audience == "" {
		return bad("auth.audience", "must not be empty")
	}
	if c.Auth.LoginPerAccount < 1 {
		return bad("auth.login_per_account", "must be at least 1")
	}
	if c.Auth.LoginPerIP < 1 {
		return bad("auth.login_per_ip", "must be at least 1")
	}
	if c.Limits.RecordBurst < 1 || c.Limits.AttachmentBurst < 1 {
		return bad("limits", "record_burst and attachment_burst must be at least 1")
	}
	if !(c.Limits.RecordRate > 0) || !(c.Limits.AttachmentRate > 0) {
		return bad("limits", "record_rate and attachment_rate must be above 0 (per second)")
	}
	if c.Limits.AttachmentQuotaMB < 1 {
		return bad("limits.attachment_quota_mb", "must be at least 1")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text", "auto":
	default:
		return bad("log.format", "want json, text or auto, got %q", c.Log.Format)
	}
	if c.DebugAddr != "" && !loopback(c.DebugAddr) {
		return bad("debug_addr", "want a loopback host:port such as 127.0.0.1:6060 (reach it through a tunnel), got %q", c.DebugAddr)
	}
	if c.AdminPassword != "" && len(c.AdminPassword) < 8 {
		return bad("HUIZONG_ADMIN_PASSWORD", "must have at least 8 characters")
	}
	return nil
}

// loopback reports whether addr is host:port with a loopback host:
// localhost, 127.0.0.0/8 or ::1. An empty host (all interfaces) is not.
func loopback(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
