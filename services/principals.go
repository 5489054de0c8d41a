package services

import (
	"context"
	"time"
)

// PrincipalCache remembers what Authenticate resolved an access token to
// (the signature verified, the user and the session read), so the next
// request with the same token does none of it again.
//
// Revocation is not delayed by it in this process: every write to users
// or sessions made through Accounts empties the cache before it returns,
// and an Authenticate that read before such a write does not store what
// it read. Writes by other processes (other instances on one MongoDB, the
// admin command line) are seen when an entry expires: after TTL at most.
type PrincipalCache struct {
	c *freshCache[Principal]
}

// NewPrincipalCache keeps up to max principals for ttl each.
func NewPrincipalCache(ttl time.Duration, max int, clock Clock) *PrincipalCache {
	return &PrincipalCache{c: newFreshCache[Principal](ttl, max, clock)}
}

// lookup returns the principal token resolved to, if it is still fresh,
// and the generation a caller that misses must pass to store.
func (c *PrincipalCache) lookup(token string) (Principal, uint64, bool) { return c.c.lookup(token) }

// store remembers p for token until the earlier of TTL and expires, unless
// the cache was invalidated since gen was read (p may be stale then).
func (c *PrincipalCache) store(token string, p Principal, gen uint64, expires time.Time) {
	c.c.store(token, p, gen, expires)
}

// Invalidate forgets every principal.
func (c *PrincipalCache) Invalidate() { c.c.invalidate() }

// Accounts is the user and session store with every write invalidating a
// PrincipalCache: give it, not the bare store, to every service that
// writes users or sessions (Auth, Users). It implements each method
// itself, so a write method added to either interface does not compile
// until it is listed here.
type Accounts struct {
	users    UserStore
	sessions SessionStore
	cache    *PrincipalCache
}

// NewAccounts wraps users and sessions for cache.
func NewAccounts(users UserStore, sessions SessionStore, cache *PrincipalCache) *Accounts {
	return &Accounts{users: users, sessions: sessions, cache: cache}
}

var (
	_ UserStore    = (*Accounts)(nil)
	_ SessionStore = (*Accounts)(nil)
)

// Reads pass through.

func (a *Accounts) User(ctx context.Context, s Scope, id string) (User, error) {
	return a.users.User(ctx, s, id)
}

func (a *Accounts) Users(ctx context.Context, s Scope, q UserQuery) ([]User, error) {
	return a.users.Users(ctx, s, q)
}

func (a *Accounts) UserByLogin(ctx context.Context, login string) (User, error) {
	return a.users.UserByLogin(ctx, login)
}

func (a *Accounts) CountUsers(ctx context.Context, s Scope, q UserQuery) (int64, error) {
	return a.users.CountUsers(ctx, s, q)
}

func (a *Accounts) Session(ctx context.Context, id string) (Session, error) {
	return a.sessions.Session(ctx, id)
}

func (a *Accounts) UserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	return a.sessions.UserSessions(ctx, userID, now)
}

// Writes invalidate, after the write (a request between the write and the
// invalidation is one that started before the write returned).

func (a *Accounts) CreateUsers(ctx context.Context, users []User) error {
	defer a.cache.Invalidate()
	return a.users.CreateUsers(ctx, users)
}

func (a *Accounts) UpdateUser(ctx context.Context, s Scope, u User) (User, error) {
	defer a.cache.Invalidate()
	return a.users.UpdateUser(ctx, s, u)
}

// CreateSession invalidates nothing: a new session revokes no principal.
func (a *Accounts) CreateSession(ctx context.Context, s Session) error {
	return a.sessions.CreateSession(ctx, s)
}

func (a *Accounts) RotateSession(ctx context.Context, id string, generation int64, r Rotation) error {
	defer a.cache.Invalidate()
	return a.sessions.RotateSession(ctx, id, generation, r)
}

func (a *Accounts) RevokeSession(ctx context.Context, userID, id string, at time.Time) error {
	defer a.cache.Invalidate()
	return a.sessions.RevokeSession(ctx, userID, id, at)
}

func (a *Accounts) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error {
	defer a.cache.Invalidate()
	return a.sessions.RevokeUserSessions(ctx, userID, except, at)
}

func (a *Accounts) DeleteSessions(ctx context.Context, before time.Time) (int64, error) {
	defer a.cache.Invalidate()
	return a.sessions.DeleteSessions(ctx, before)
}
