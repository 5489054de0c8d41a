package services

import (
	"context"
	"time"
)

// What the consumers of records and totals below services (exports, the
// summary) read through: iteration over records in bounded pages, the
// templates a caller sees as a unit sees them, names of periods.

// Each calls fn with the records inside p's record scope that match q, in
// the order Records lists them, reading pageSize records at a time
// (bounded: never all of them at once). The next page is read while fn
// works through the current one (store and writer on two cores), at most
// one page ahead. It stops at fn's first error or when ctx ends, and
// returns only once the read ahead has stopped too. q goes through the
// list's checks first.
func (s *Records) Each(ctx context.Context, p Principal, q RecordQuery, pageSize int, fn func(Record) error) error {
	if err := CheckQuery("records.each", q); err != nil {
		return err
	}
	// Bulk reads: a page of up to MaxBulkLimit, and a page that comes
	// back short (of what the store answers, PageLimit) is the last.
	q.Limit, q.Bulk, q.After = pageSize, true, RecordCursor{}
	q.Limit = q.PageLimit()
	type page struct {
		list []Record
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page)
	go func() {
		defer close(pages)
		for {
			list, err := s.store.Records(ctx, p.RecordScope(), q)
			select {
			case pages <- page{list, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(list) < q.Limit {
				return
			}
			q.After = RecordCursor{ID: list[len(list)-1].ID}
		}
	}()
	defer func() {
		cancel()
		for range pages {
			// the read ahead sees the cancel and closes the channel
		}
	}()
	for pg := range pages {
		if pg.err != nil {
			return pg.err
		}
		for _, r := range pg.list {
			// A client that hung up stops the walk at once, not a page on.
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// Location is the zone dates and times are shown in.
func (s *Records) Location() *time.Location { return s.loc }

// VisibleTemplates lists every template of store p may see, in key order.
func VisibleTemplates(ctx context.Context, store TemplateStore, p Principal) ([]Template, error) {
	m := map[string]Template{}
	if err := visibleTemplates(ctx, store, p, m); err != nil {
		return nil, err
	}
	out := make([]Template, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out, nil
}

// AsSeenBy is template t as unit org's records are written: merged with
// the current extensions of org's path (store keeps them, if it does).
func AsSeenBy(ctx context.Context, store TemplateStore, t Template, org Org) (Template, error) {
	exts, _ := store.(ExtensionStore)
	t, _, err := extended(ctx, exts, t, org)
	return t, err
}

// SummaryPattern is the wording of template t's sentence in org's work
// summary: the deepest extension on org's path that rewords it, else t's
// own (store keeps the extensions, if it does).
func SummaryPattern(ctx context.Context, store TemplateStore, t Template, org Org) (string, error) {
	exts, ok := store.(ExtensionStore)
	if !ok || len(org.Path) == 0 {
		return t.Summary.ZH, nil
	}
	list, err := exts.Extensions(ctx, t.Key, org.Path)
	if err != nil {
		return "", err
	}
	pattern, depth := t.Summary.ZH, 0
	for _, e := range list {
		if e.Summary.ZH != "" && len(e.OwnerPath) > depth {
			pattern, depth = e.Summary.ZH, len(e.OwnerPath)
		}
	}
	return pattern, nil
}

// MergedTemplate is template key as the totals of org read it: merged
// with the extensions of org's path and, for a city, of its districts.
func (s *Totals) MergedTemplate(ctx context.Context, p Principal, org Org, key string) (Template, error) {
	t, err := s.templates.Template(ctx, ViewOf(p), key)
	if err != nil {
		return Template{}, err
	}
	m := map[string]Template{key: t}
	if err := s.mergeExtensions(ctx, p, org, m); err != nil {
		return Template{}, err
	}
	return m[key], nil
}

// PeriodLabel names a period the way a bureau writes it: 2025学年,
// 2025学年第一学期, 2025年, 2025年第1季度, 2025年3月.
func PeriodLabel(id string) string { return periodLabel(id) }

// Value is num/den × Factor rounded to Decimals, NaN without a
// denominator.
func (ind Indicator) Value(num, den float64) float64 { return ind.value(num, den) }
