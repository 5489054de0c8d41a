package services

import (
	"context"
	"time"
)

// OrgStore keeps the organisation tree.
type OrgStore interface {
	// CreateOrg inserts o; ErrConflict if the id or school code is taken.
	CreateOrg(ctx context.Context, o Org) error
	// Org returns the unit id inside s; ErrNotFound otherwise.
	Org(ctx context.Context, s Scope, id string) (Org, error)
	// Orgs lists units inside s in id order.
	Orgs(ctx context.Context, s Scope, q OrgQuery) ([]Org, error)
	// CountOrgs counts the units inside s that match q (its page ignored).
	CountOrgs(ctx context.Context, s Scope, q OrgQuery) (int64, error)
	// UpdateOrg replaces the mutable fields of the unit o.ID if it lies
	// inside s and its version is still o.Version; it returns the stored
	// unit with the next version. ErrStale when the version moved on.
	UpdateOrg(ctx context.Context, s Scope, o Org) (Org, error)
	// DeleteOrg removes a unit at version; ErrConflict while it has child
	// units or users.
	DeleteOrg(ctx context.Context, s Scope, id string, version int64) error
}

// UserStore keeps user accounts.
type UserStore interface {
	// CreateUsers inserts all of users or none of them; ErrConflict if a
	// username or mobile number is taken.
	CreateUsers(ctx context.Context, users []User) error
	// User returns the user id inside s.
	User(ctx context.Context, s Scope, id string) (User, error)
	// Users lists users inside s in id order.
	Users(ctx context.Context, s Scope, q UserQuery) ([]User, error)
	// UserByLogin finds a user by username or mobile number, unscoped: only
	// sign-in uses it.
	UserByLogin(ctx context.Context, login string) (User, error)
	// UpdateUser replaces the mutable fields of u.ID inside s at version
	// u.Version and returns the stored user with the next version.
	UpdateUser(ctx context.Context, s Scope, u User) (User, error)
	// CountUsers counts the users inside s that match q (its page
	// ignored); ScopeAll and an empty query count every account.
	CountUsers(ctx context.Context, s Scope, q UserQuery) (int64, error)
}

// SessionStore keeps device sessions and their refresh-token hashes.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, id string) (Session, error)
	// RotateSession applies r if the session is still at generation;
	// ErrStale otherwise.
	RotateSession(ctx context.Context, id string, generation int64, r Rotation) error
	// RevokeSession marks one session revoked; revoking twice is fine.
	RevokeSession(ctx context.Context, userID, id string, at time.Time) error
	// RevokeUserSessions revokes every session of a user but except.
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error
	// UserSessions lists a user's active sessions at now, newest first.
	UserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// DeleteSessions removes sessions that expired or were revoked before.
	DeleteSessions(ctx context.Context, before time.Time) (int64, error)
}

// KeyStore keeps the token signing keys shared by every instance.
type KeyStore interface {
	// CreateKey inserts k; ErrConflict if its id exists.
	CreateKey(ctx context.Context, k SigningKey) error
	// Keys lists every key, newest first.
	Keys(ctx context.Context) ([]SigningKey, error)
	// RetireKey marks a key retired at the given time.
	RetireKey(ctx context.Context, id string, at time.Time) error
}
