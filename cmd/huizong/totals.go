package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/huizong/huizong/configs"
	"github.com/huizong/huizong/services"
)

// totalsCommand runs `huizong totals verify|rebuild`: it checks every
// unit's totals against its records (verify fails when any drifted) or
// rewrites the ones that drifted (rebuild). It may run next to a server.
func totalsCommand(ctx context.Context, cfg configs.Config, log *slog.Logger, action string, stdout, stderr io.Writer) error {
	if action != "verify" && action != "rebuild" {
		return fmt.Errorf("usage: huizong totals verify|rebuild")
	}
	st, err := openStore(ctx, cfg, log, false)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	totals := services.NewTotals(st, st, st, st, calendarOf(cfg), time.Now, cfg.Location)
	sysadmin := services.Principal{User: services.User{ID: "cli", Role: services.RoleSysadmin}}
	progress := newProgress(stderr, action)
	run := totals.Verify
	if action == "rebuild" {
		run = totals.Rebuild
	}
	rep, err := run(ctx, sysadmin, progress.update)
	progress.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d units, %d drifted cells, %.1fs\n", action, rep.Units, rep.Drifted, rep.Took.Seconds())
	for _, d := range rep.Drift {
		k := d.Want.CellKey
		if k.Template == "" {
			k = d.Got.CellKey
		}
		fmt.Fprintf(stdout, "  %s %s %s %s %s=%q: records say %d (%v), stored %d (%v)\n", k.OrgID, k.Template, k.Status,
			k.Month, k.Dim, k.Value, d.Want.Count, d.Want.Sums, d.Got.Count, d.Got.Sums)
	}
	if action == "verify" && rep.Drifted > 0 {
		return fmt.Errorf("totals drifted in %d cells: run `huizong totals rebuild`", rep.Drifted)
	}
	return nil
}

// progress shows "done/total, elapsed, ETA" on a terminal, rewriting one
// line; elsewhere (logs, pipes) it stays quiet.
type progress struct {
	w      io.Writer
	label  string
	start  time.Time
	last   time.Time
	active bool
}

func newProgress(w io.Writer, label string) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, label: label, start: time.Now(), active: ok && isTerminal(f)}
}

func (p *progress) update(done, total int) {
	if !p.active || (time.Since(p.last) < 200*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	elapsed := time.Since(p.start)
	eta := "?"
	if done > 0 {
		eta = (time.Duration(float64(elapsed) / float64(done) * float64(total-done))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%s: %d/%d units (%d%%), %s elapsed, ETA %s   ", p.label, done, total, done*100/max(total, 1),
		elapsed.Round(time.Second), eta)
}

func (p *progress) done() {
	if p.active {
		fmt.Fprintln(p.w)
	}
}
