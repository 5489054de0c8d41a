package services

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxDriftListed bounds the drifted cells a report lists (it counts all).
const maxDriftListed = 100

// ReconcileReport says how far the stored totals were from the records.
type ReconcileReport struct {
	Units int
	// Drifted counts the cells that differed; Drift lists the first ones.
	Drifted int
	Drift   []CellDrift
	// Fixed is true when the drifted cells were rewritten.
	Fixed bool
	Took  time.Duration
}

// Progress is told how many units of total are done.
type Progress func(done, total int)

// Verify compares every unit's totals with its records; only sysadmins
// may (the command line runs as one).
func (s *Totals) Verify(ctx context.Context, p Principal, progress Progress) (ReconcileReport, error) {
	return s.reconcile(ctx, "totals.verify", p, false, progress)
}

// Rebuild recomputes every unit's totals that drifted from its records.
func (s *Totals) Rebuild(ctx context.Context, p Principal, progress Progress) (ReconcileReport, error) {
	return s.reconcile(ctx, "totals.rebuild", p, true, progress)
}

func (s *Totals) reconcile(ctx context.Context, op string, p Principal, fix bool, progress Progress) (ReconcileReport, error) {
	if p.User.Role != RoleSysadmin {
		return ReconcileReport{}, Fail(op, KindForbidden, "forbidden", nil)
	}
	start := s.now()
	var units []Org
	q := OrgQuery{Page: Page{Limit: MaxLimit}}
	for {
		list, err := s.orgs.Orgs(ctx, ScopeAll(), q)
		if err != nil {
			return ReconcileReport{}, fmt.Errorf("%s: %w", op, err)
		}
		units = append(units, list...)
		if len(list) < MaxLimit {
			break
		}
		q.After = list[len(list)-1].ID
	}
	rep := ReconcileReport{Units: len(units), Fixed: fix}
	rollup := s.rollupFunc(ctx)
	for i, u := range units {
		drift, err := s.cells.ReconcileTotals(ctx, u.ID, rollup, fix)
		if err != nil {
			return rep, fmt.Errorf("%s: unit %s: %w", op, u.ID, err)
		}
		rep.Drifted += len(drift)
		for _, d := range drift {
			if len(rep.Drift) < maxDriftListed {
				rep.Drift = append(rep.Drift, d)
			}
		}
		if progress != nil {
			progress(i+1, len(units))
		}
	}
	rep.Took = s.now().Sub(start)
	return rep, nil
}

// rollupFunc works out a record's contribution, reading each template
// version once.
func (s *Totals) rollupFunc(ctx context.Context) func(Record) (Rollup, error) {
	var mu sync.Mutex
	versions := map[string]Template{}
	return func(r Record) (Rollup, error) {
		if !countsInTotals(r) {
			return Rollup{}, nil
		}
		key := fmt.Sprintf("%s@%d%v", r.Template, r.TemplateVersion, r.Extensions)
		mu.Lock()
		t, ok := versions[key]
		mu.Unlock()
		if !ok {
			var err error
			if t, err = s.templates.TemplateVersion(ctx, r.Template, r.TemplateVersion); err != nil {
				return Rollup{}, err
			}
			exts, _ := s.templates.(ExtensionStore)
			if t, err = pinned(ctx, exts, t, r.Extensions); err != nil {
				return Rollup{}, err
			}
			mu.Lock()
			versions[key] = t
			mu.Unlock()
		}
		return RollupOf(r, t), nil
	}
}

// Finish completes roll-up work a crash left behind (records last written
// before `before`); servers call it at start and every minute.
func (s *Totals) Finish(ctx context.Context, before time.Time) (int, error) {
	n, err := s.cells.FinishTotals(ctx, before)
	if err != nil {
		return n, fmt.Errorf("totals.finish: %w", err)
	}
	return n, nil
}
