package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/huizong/huizong/configs"
	"github.com/huizong/huizong/handlers"
	"github.com/huizong/huizong/repository/mongo"
	"github.com/huizong/huizong/repository/sqlite"
	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/export"
	"github.com/huizong/huizong/services/summary"
)

// store is everything the server needs from a store.
type store interface {
	services.OrgStore
	services.UserStore
	services.SessionStore
	services.KeyStore
	services.IdempotencyStore
	services.TemplateStore
	services.RecordStore
	services.AttachmentStore
	services.TaskStore
	services.TotalsStore
	services.AuditStore
	services.IndicatorStore
	services.ExtensionStore
	Ping(ctx context.Context) error
	Name() string
	Close() error
}

// run parses the command line and runs one command.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" || slices.Contains(args, "-h") || slices.Contains(args, "--help") || slices.Contains(args, "-help") {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fs := flag.NewFlagSet("huizong "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("HUIZONG_CONFIG"), "configuration file (default configs/huizong.yaml when present)")
	var demoSchools *int
	var demoForce *bool
	if cmd == "demo" {
		demoSchools = fs.Int("schools", 30, "schools and kindergartens per district")
		demoForce = fs.Bool("force", false, "load beside what the store already holds")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configs.Load(*configPath, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout, nil)
	case "backup":
		if fs.NArg() != 1 {
			return errors.New("usage: huizong backup <file>")
		}
		return backup(ctx, cfg, fs.Arg(0), stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "restore":
		if fs.NArg() != 1 {
			return errors.New("usage: huizong restore <file>")
		}
		return restore(ctx, cfg, fs.Arg(0), stdout)
	case "totals":
		return totalsCommand(ctx, cfg, log, fs.Arg(0), stdout, stderr)
	case "demo":
		if *demoSchools < 1 || *demoSchools > 200 {
			return errors.New("huizong demo: -schools must be 1 to 200")
		}
		return demo(ctx, cfg, log, *demoSchools, *demoForce, stdout, stderr)
	case "mongo":
		if fs.NArg() != 1 || fs.Arg(0) != "shard-plan" {
			return errors.New("usage: huizong mongo shard-plan")
		}
		return mongo.WriteShardPlan(stdout, cfg.MongoDB.Database)
	case "admin":
		if fs.NArg() != 2 || fs.Arg(0) != "reset-password" {
			return errors.New("usage: huizong admin reset-password <username>")
		}
		return resetPassword(ctx, cfg, log, fs.Arg(1), getenv, os.Stdin, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (run huizong help)", cmd)
}

// usage is what huizong help prints.
const usage = `huizong: the reporting backend of a district education bureau.

Usage:
  huizong [serve] [-config file]          run the server (default)
  huizong backup <file>                   consistent copy of the embedded store, server running or not (mode 0600)
  huizong restore <file>                  bring a backup back (server stopped; the replaced database is kept)
  huizong admin reset-password <user>     set a new password (from the terminal, HUIZONG_NEW_PASSWORD,
                                          or generated and printed) and sign the user out everywhere
  huizong demo [-schools N] [-force]      load a demo city (two districts, schools of every stage,
                                          two school years of records) into an empty store
  huizong totals verify                   compare every unit's totals with its records (exit 1 on drift)
  huizong totals rebuild                  rewrite the totals that drifted from the records
  huizong mongo shard-plan                print the mongosh commands that shard the MongoDB database
                                          (docs/sharding.md)
  huizong healthcheck                     ask the local server's /readyz (containers)
  huizong help                            this text

Configuration: configs/huizong.yaml (-config or HUIZONG_CONFIG picks another file);
HUIZONG_* environment variables win over the file. API documentation: /swagger/index.html.
`

// newLogger logs JSON, or text on a terminal, at the configured level,
// with timestamps in the configured time zone and its offset (an operator
// in Chengdu reads 08:30+08:00, not 00:30Z).
func newLogger(cfg configs.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	loc := cfg.Location
	if loc == nil {
		loc = time.Local
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
			a.Value = slog.StringValue(a.Value.Time().In(loc).Format("2006-01-02T15:04:05.000Z07:00"))
		}
		return a
	}}
	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openStore opens MongoDB when a URI is configured, else the embedded
// store; exclusive takes the data directory's lock (the server does, so a
// second server or a restore on the same directory is refused).
func openStore(ctx context.Context, cfg configs.Config, log *slog.Logger, exclusive bool) (store, error) {
	if cfg.MongoDB.URI != "" {
		return mongo.Connect(ctx, cfg.MongoDB.URI, cfg.MongoDB.Database, mongo.Options{Timeout: cfg.MongoDB.Timeout.Std(), Log: log})
	}
	return sqlite.Open(ctx, cfg.DataDir, sqlite.Options{Synchronous: cfg.SQLite.Synchronous, Exclusive: exclusive})
}

// app is the wired server: the store, the services and the router. Tests
// build one on a real store in a temp dir.
type app struct {
	store  store
	tokens *services.Tokens
	auth   *services.Auth
	totals *services.Totals
	router *handlers.Router
	// svc are the services the router serves (the demo loader uses them).
	svc handlers.Services
	log *slog.Logger
}

// options tune an app for tests; the zero value is production.
type options struct {
	clock          services.Clock
	passwordParams *services.PasswordParams
}

// newApp wires services and router over st and runs the first-start
// steps (signing key, first sysadmin).
func newApp(ctx context.Context, cfg configs.Config, st store, log *slog.Logger, stdout io.Writer, opt options) (*app, error) {
	clock := opt.clock
	if clock == nil {
		clock = time.Now
	}
	var keyFile []byte
	if cfg.Auth.SigningKeyFile != "" {
		b, err := os.ReadFile(cfg.Auth.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: auth.signing_key_file: %w", err)
		}
		keyFile = b
	}
	authCfg := services.AuthConfig{
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, AccessTTL: cfg.Auth.AccessTTL.Std(),
		RefreshTTL: cfg.Auth.RefreshTTL.Std(), RefreshGrace: cfg.Auth.RefreshGrace.Std(),
		// One second: what another instance (or the admin command) wrote
		// is seen within it; writes through this one invalidate at once.
		Principals: services.NewPrincipalCache(time.Second, 50_000, clock),
	}
	// Every service that writes users or sessions writes through
	// accounts, so the principal cache never outlives a revocation here.
	accounts := services.NewAccounts(st, st, authCfg.Principals)
	tokens, err := services.NewTokens(st, clock, authCfg.TokenConfig(keyFile), log)
	if err != nil {
		return nil, fmt.Errorf("config: auth.signing_key_file: %w", err)
	}
	if err := tokens.Init(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	params := services.DefaultPasswordParams()
	if opt.passwordParams != nil {
		params = *opt.passwordParams
	}
	passwords := services.NewPasswords(params, runtime.NumCPU())
	perMinute := func(n int) *services.Limiter {
		return services.NewLimiter(time.Minute/time.Duration(n), n, 100_000, clock)
	}
	audit := services.NewAudit(st, clock, log)
	auth := services.NewAuth(accounts, accounts, tokens, passwords, audit, perMinute(cfg.Auth.LoginPerAccount), perMinute(cfg.Auth.LoginPerIP), clock, authCfg, log)
	generated, created, err := auth.EnsureAdmin(ctx, cfg.AdminPassword)
	if err != nil {
		return nil, fmt.Errorf("checking for the first sysadmin account: %w", err)
	}
	if !created && cfg.AdminPassword != "" {
		log.Warn("HUIZONG_ADMIN_PASSWORD is ignored: it sets the admin password on the first start only, and accounts exist",
			slog.String("instead", "huizong admin reset-password admin"))
	}
	if created {
		log.Info("first start: created sysadmin account", slog.String("username", "admin"))
		if generated != "" {
			fmt.Fprintf(stdout, "\n  First start: sysadmin account created.\n  username: admin\n  password: %s\n  (shown once; change it after signing in)\n\n", generated)
		}
	}
	// Every service reads and writes orgs, templates and extensions
	// through refs: a submission's unit, template and extensions are read
	// once a second, not once a record, and a write here is seen at once.
	refs := services.NewRefs(st, st, st, time.Second, 10_000, clock)
	templates := services.NewTemplates(refs, refs, audit, clock)
	installed, err := templates.EnsureBuiltins(ctx)
	if err != nil {
		return nil, fmt.Errorf("installing built-in templates: %w", err)
	}
	if installed > 0 {
		log.Info("installed built-in templates", slog.Int("count", installed))
	}
	totals := services.NewTotals(st, st, refs, refs, calendarOf(cfg), clock, cfg.Location)
	indicators := services.NewIndicators(st, refs, refs, totals, clock)
	records := services.NewRecords(st, refs, refs, st, clock, cfg.Location)
	tasks := services.NewTasks(st, st, refs, refs, clock, cfg.Location, calendarOf(cfg))
	if n, err := indicators.EnsureBuiltins(ctx); err != nil {
		return nil, fmt.Errorf("installing built-in indicators: %w", err)
	} else if n > 0 {
		log.Info("installed built-in indicators", slog.Int("count", n))
	}
	attachments := services.NewAttachments(st, clock, runtime.NumCPU())
	attachments.Quota = cfg.Limits.AttachmentQuotaMB << 20
	exports := export.New(export.Deps{Records: records, Templates: refs, Orgs: refs, Users: accounts, Totals: totals,
		Indicators: indicators, Tasks: tasks, Audit: audit, Calendar: calendarOf(cfg)})
	svc := handlers.Services{
		Auth:             auth,
		Audit:            audit,
		Idempotency:      services.NewIdempotency(st, clock),
		Orgs:             services.NewOrgs(refs, clock),
		Users:            services.NewUsers(accounts, refs, accounts, passwords, audit, clock),
		Templates:        templates,
		Records:          records,
		Attachments:      attachments,
		Tasks:            tasks,
		Totals:           totals,
		Indicators:       indicators,
		Exports:          exports,
		Summary:          summary.New(totals, indicators, refs, exports, audit),
		RecordBudget:     services.NewLimiter(time.Duration(float64(time.Second)/cfg.Limits.RecordRate), cfg.Limits.RecordBurst, 100_000, clock),
		AttachmentBudget: services.NewLimiter(time.Duration(float64(time.Second)/cfg.Limits.AttachmentRate), cfg.Limits.AttachmentBurst, 100_000, clock),
	}
	router, err := handlers.NewRouter(handlers.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies,
		Location: cfg.Location, Development: cfg.Mode == "development", SwaggerUI: cfg.SwaggerUI,
	}, svc, st, log)
	if err != nil {
		return nil, fmt.Errorf("config: trusted_proxies: %w", err)
	}
	return &app{store: st, tokens: tokens, auth: auth, totals: totals, router: router, svc: svc, log: log}, nil
}

// serve runs the HTTP server until ctx ends, then drains: readiness goes
// 503, in-flight requests finish, the store closes. ready, when not nil,
// receives the listening address.
func serve(ctx context.Context, cfg configs.Config, log *slog.Logger, stdout io.Writer, ready chan<- string) error {
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", slog.String("error", err.Error()))
		}
	}()
	a, err := newApp(ctx, cfg, st, log, stdout, options{})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Profiling for an operator, loopback only (configs refuses others).
	if cfg.DebugAddr != "" {
		_, stopDebug, err := serveDebug(ctx, cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	log.Info("huizong listening", slog.String("addr", ln.Addr().String()), slog.String("store", st.Name()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	go a.housekeep(ctx)
	go a.finishTotals(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Readiness turns 503 first while everything is still served, so a
	// load balancer polling /readyz sees the instance leave and stops
	// sending requests before the listener closes.
	a.router.Drain()
	if d := cfg.ShutdownDelay.Std(); d > 0 {
		log.Info("shutting down: /readyz answers 503, still serving", slog.Duration("shutdown_delay", d))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return err
		}
	}
	log.Info("shutting down: draining requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// calendarOf is the period calendar cfg sets.
func calendarOf(cfg configs.Config) services.Calendar {
	return services.Calendar{SpringTerm: time.Month(cfg.SpringTermMonth)}
}

// finishTotals completes, at start and then every minute, the roll-up work
// a crashed instance left behind (only the MongoDB store can leave any).
// It also watches the store: when it answers again after an outage, the
// roll-ups the outage left pending (records acknowledged while their
// cells could not be written) are finished at once, not at the next tick.
func (a *app) finishTotals(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	watch := time.NewTicker(5 * time.Second)
	defer watch.Stop()
	// Younger than grace, a pending record is most likely being applied
	// by the instance that wrote it.
	const grace = 30 * time.Second
	finish := func(olderThan time.Duration, why string) {
		if n, err := a.totals.Finish(ctx, time.Now().Add(-olderThan)); err != nil && ctx.Err() == nil {
			a.log.Warn("totals: finishing pending records", slog.String("error", err.Error()))
		} else if n > 0 {
			a.log.Info("totals: finished records left pending", slog.String("by", why), slog.Int("count", n))
		}
	}
	finish(0, "a crash") // at start: everything left is a crash's
	down := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			finish(grace, "a crash")
		case <-watch.C:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := a.store.Ping(pctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				if !down {
					a.log.Warn("store unavailable", slog.String("error", err.Error()))
				}
				down = true
			case err == nil && down:
				down = false
				a.log.Info("store available again")
				// Appliers of other instances may still be at work on
				// the youngest: applying twice is harmless, so no grace.
				finish(0, "an outage")
			}
		}
	}
}

// housekeep removes dead sessions and, on MongoDB, users left pending by an
// import that crashed.
func (a *app) housekeep(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		now := time.Now()
		if n, err := a.store.DeleteSessions(ctx, now.Add(-7*24*time.Hour)); err != nil && ctx.Err() == nil {
			a.log.Warn("housekeeping: sessions", slog.String("error", err.Error()))
		} else if n > 0 {
			a.log.Info("housekeeping: removed sessions", slog.Int64("count", n))
		}
		if n, err := a.store.DeleteIdempotency(ctx, now); err != nil && ctx.Err() == nil {
			a.log.Warn("housekeeping: idempotency keys", slog.String("error", err.Error()))
		} else if n > 0 {
			a.log.Info("housekeeping: removed idempotency keys", slog.Int64("count", n))
		}
		if s, ok := a.store.(interface {
			SweepPending(context.Context, time.Time) error
		}); ok {
			if err := s.SweepPending(ctx, now.Add(-10*time.Minute)); err != nil && ctx.Err() == nil {
				a.log.Warn("housekeeping: pending users", slog.String("error", err.Error()))
			}
		}
		if s, ok := a.store.(interface {
			SweepOrphanFiles(context.Context, time.Time) (int64, error)
		}); ok {
			if n, err := s.SweepOrphanFiles(ctx, now.Add(-10*time.Minute)); err != nil && ctx.Err() == nil {
				a.log.Warn("housekeeping: orphan attachment files", slog.String("error", err.Error()))
			} else if n > 0 {
				a.log.Info("housekeeping: removed orphan attachment files", slog.Int64("count", n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// backup writes a consistent copy of the embedded store while the server
// may be running.
func backup(ctx context.Context, cfg configs.Config, file string, stdout io.Writer) error {
	if cfg.MongoDB.URI != "" {
		return errors.New("backup copies the embedded store; for MongoDB use mongodump or your provider's snapshots")
	}
	st, err := sqlite.Open(ctx, cfg.DataDir, sqlite.Options{Synchronous: cfg.SQLite.Synchronous})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	if err := st.Backup(ctx, file); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s in %v\n", file, time.Since(start).Round(time.Millisecond))
	return nil
}

// restore replaces the embedded store with a backup; the server must be
// stopped.
func restore(ctx context.Context, cfg configs.Config, file string, stdout io.Writer) error {
	if cfg.MongoDB.URI != "" {
		return errors.New("restore brings back the embedded store; for MongoDB use mongorestore")
	}
	kept, err := sqlite.Restore(ctx, file, cfg.DataDir, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", file, cfg.DataDir)
	if kept != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept as %s (delete it once the restore is checked)\n", kept)
	}
	return nil
}

// healthcheck asks the local server's /readyz, so a container is healthy
// only while its store answers and it is not draining; containers use it
// as their HEALTHCHECK, having no curl.
func healthcheck(ctx context.Context, cfg configs.Config) error {
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz answered %s", resp.Status)
	}
	return nil
}
