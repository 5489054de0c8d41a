package services

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Refs is the org, template and extension store with the reads every
// record submission makes (its unit, its template, the unit's
// extensions) kept for a short while: a phone's offline batch of 100
// records reads each of them once, not 100 times.
//
// Like PrincipalCache it never serves what a write through this process
// replaced: every write method empties it before returning, and a read
// that began before a write does not store what it read. Writes of other
// processes (other instances on one MongoDB) are seen after TTL at most.
// It implements each method of the three interfaces itself, so a method
// added to one does not compile until it is listed here. Give it, not the
// bare store, to every service that reads or writes orgs, templates or
// extensions.
type Refs struct {
	orgs      OrgStore
	templates TemplateStore
	exts      ExtensionStore
	cache     *freshCache[any]
}

// NewRefs wraps the stores; up to max reads are kept for ttl each.
func NewRefs(orgs OrgStore, templates TemplateStore, exts ExtensionStore, ttl time.Duration, max int, clock Clock) *Refs {
	return &Refs{orgs: orgs, templates: templates, exts: exts, cache: newFreshCache[any](ttl, max, clock)}
}

var (
	_ OrgStore       = (*Refs)(nil)
	_ TemplateStore  = (*Refs)(nil)
	_ ExtensionStore = (*Refs)(nil)
)

// invalidate forgets every read; writes call it when they return.
func (c *Refs) invalidate() { c.cache.invalidate() }

// cached returns what read gives for key, from the cache when fresh.
// Errors are not kept.
func cached[T any](c *Refs, key string, read func() (T, error)) (T, error) {
	hit, gen, ok := c.cache.lookup(key)
	if ok {
		return hit.(T), nil
	}
	v, err := read()
	if err == nil {
		c.cache.store(key, v, gen, time.Time{})
	}
	return v, err
}

func scopeKey(s Scope) string {
	all := "0"
	if s.All {
		all = "1"
	}
	return all + "\x00" + s.OrgID + "\x00" + s.AuthorID + "\x00" + s.District
}

// Org is OrgStore.Org, cached. The path and stages are the caller's own.
func (c *Refs) Org(ctx context.Context, s Scope, id string) (Org, error) {
	o, err := cached(c, "org\x00"+scopeKey(s)+"\x00"+id, func() (Org, error) { return c.orgs.Org(ctx, s, id) })
	o.Path, o.Stages = slices.Clone(o.Path), slices.Clone(o.Stages)
	return o, err
}

// Template is TemplateStore.Template, cached.
func (c *Refs) Template(ctx context.Context, v TemplateView, key string) (Template, error) {
	return cached(c, "tmpl\x00"+scopeKey(v.Scope)+"\x00"+strings.Join(v.Path, "/")+"\x00"+key,
		func() (Template, error) { return c.templates.Template(ctx, v, key) })
}

// Extensions is ExtensionStore.Extensions, cached; the slice is the
// caller's own (Merge sorts it).
func (c *Refs) Extensions(ctx context.Context, key string, owners []string) ([]TemplateExtension, error) {
	es, err := cached(c, "ext\x00"+key+"\x00"+strings.Join(owners, "/"),
		func() ([]TemplateExtension, error) { return c.exts.Extensions(ctx, key, owners) })
	return slices.Clone(es), err
}

// Reads not on a submission's path pass through.

func (c *Refs) Orgs(ctx context.Context, s Scope, q OrgQuery) ([]Org, error) {
	return c.orgs.Orgs(ctx, s, q)
}

func (c *Refs) CountOrgs(ctx context.Context, s Scope, q OrgQuery) (int64, error) {
	return c.orgs.CountOrgs(ctx, s, q)
}

func (c *Refs) TemplateVersion(ctx context.Context, key string, version int64) (Template, error) {
	return c.templates.TemplateVersion(ctx, key, version)
}

func (c *Refs) Templates(ctx context.Context, v TemplateView, q TemplateQuery) ([]Template, error) {
	return c.templates.Templates(ctx, v, q)
}

func (c *Refs) ExtensionVersion(ctx context.Context, key, owner string, version int64) (TemplateExtension, error) {
	return c.exts.ExtensionVersion(ctx, key, owner, version)
}

// Writes empty the cache when they return.

func (c *Refs) CreateOrg(ctx context.Context, o Org) error {
	defer c.invalidate()
	return c.orgs.CreateOrg(ctx, o)
}

func (c *Refs) UpdateOrg(ctx context.Context, s Scope, o Org) (Org, error) {
	defer c.invalidate()
	return c.orgs.UpdateOrg(ctx, s, o)
}

func (c *Refs) DeleteOrg(ctx context.Context, s Scope, id string, version int64) error {
	defer c.invalidate()
	return c.orgs.DeleteOrg(ctx, s, id, version)
}

func (c *Refs) CreateTemplate(ctx context.Context, t Template) error {
	defer c.invalidate()
	return c.templates.CreateTemplate(ctx, t)
}

func (c *Refs) UpdateTemplate(ctx context.Context, v TemplateView, t Template) (Template, error) {
	defer c.invalidate()
	return c.templates.UpdateTemplate(ctx, v, t)
}

func (c *Refs) SaveExtension(ctx context.Context, e TemplateExtension) error {
	defer c.invalidate()
	return c.exts.SaveExtension(ctx, e)
}
