package services

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Stable error codes of sign-in and sessions.
const (
	CodeInvalidCredentials = "invalid_credentials"
	CodeInvalidToken       = "invalid_token"
	CodeRateLimited        = "rate_limited"
)

// Length limits on what sign-in accepts or stores.
const (
	maxLoginLen     = 128
	maxLoginPassLen = 1024 // bytes; longer passwords cannot be ours
	maxDeviceLen    = 64
	maxUserAgentLen = 256
	maxRefreshLen   = 128
)

// refreshEncoding encodes refresh token secrets: 32 bytes -> 43 characters.
var refreshEncoding = base64.RawURLEncoding

// AuthConfig configures Auth. Issuer, Audience and AccessTTL are the
// token settings; TokenConfig copies them so the two cannot disagree.
type AuthConfig struct {
	Issuer   string
	Audience string
	// AccessTTL is the lifetime of an access token (default 15 minutes).
	AccessTTL time.Duration
	// RefreshTTL is how long a session lives without being refreshed
	// (default 30 days); each refresh extends it.
	RefreshTTL time.Duration
	// RefreshGrace is how long the previous refresh token still returns the
	// same new pair, for clients that lost the response (default 30 s).
	RefreshGrace time.Duration
	// Principals, when set, caches what Authenticate resolves; the users
	// and sessions given to NewAuth (and to every other service writing
	// them) must then be an Accounts on the same cache.
	Principals *PrincipalCache
}

// TokenConfig returns the token settings of c with the given PEM key file.
func (c AuthConfig) TokenConfig(keyFile []byte) TokenConfig {
	return TokenConfig{Issuer: c.Issuer, Audience: c.Audience, AccessTTL: c.AccessTTL, KeyFile: keyFile}
}

// Auth signs users in and keeps their device sessions: access tokens
// (short-lived JWTs) and refresh tokens (opaque, stored hashed, rotated on
// every use, with reuse detection per RFC 9700).
type Auth struct {
	users     UserStore
	sessions  SessionStore
	tokens    *Tokens
	passwords *Passwords
	audit     *Audit
	// accountLimiter throttles sign-in per (account, client IP), so
	// failures from one address never lock the owner out elsewhere;
	// accountWide allows ten times as much per account from everywhere,
	// against guessing spread over many addresses.
	accountLimiter *Limiter
	accountWide    *Limiter
	ipLimiter      *Limiter
	clock          Clock
	cfg            AuthConfig
	log            *slog.Logger
}

// NewAuth returns an Auth. Sign-ins, their failures and session changes
// go to audit (nil: not recorded). The limiters throttle sign-in per
// (account, client IP) and per client IP (nil: no throttling); log may be
// nil.
func NewAuth(users UserStore, sessions SessionStore, tokens *Tokens, passwords *Passwords, audit *Audit, accountLimiter, ipLimiter *Limiter, clock Clock, cfg AuthConfig, log *slog.Logger) *Auth {
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.RefreshGrace <= 0 {
		cfg.RefreshGrace = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wide *Limiter
	if accountLimiter != nil {
		wide = NewLimiter(accountLimiter.every/10, int(accountLimiter.burst)*10, accountLimiter.maxKeys, clock)
	}
	return &Auth{
		users: users, sessions: sessions, tokens: tokens, passwords: passwords, audit: audit,
		accountLimiter: accountLimiter, accountWide: wide, ipLimiter: ipLimiter,
		clock: clock, cfg: cfg, log: log,
	}
}

// Credentials is a sign-in attempt; Login is a username or mobile number.
// Device, UserAgent and IP describe the session (IP also throttles).
type Credentials struct {
	Login     string
	Password  string
	Device    string
	UserAgent string
	IP        string
}

// TokenPair is what a sign-in or refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is what remains of the access token's lifetime.
	ExpiresIn time.Duration
}

// Principal is the authenticated caller of a request.
type Principal struct {
	User      User
	SessionID string
}

// Scope is the part of the tree the caller may reach: everything for a
// system administrator, otherwise the subtree of the user's org unit.
func (p Principal) Scope() Scope {
	if p.User.Role == RoleSysadmin {
		return ScopeAll()
	}
	s := ScopeOrg(p.User.OrgID)
	s.District = DistrictOf(p.User.OrgPath)
	return s
}

// NormalizeLogin is how a login is compared: trimmed and lower-case.
func NormalizeLogin(login string) string {
	return strings.ToLower(strings.TrimSpace(login))
}

func (a *Auth) now() time.Time { return a.clock().UTC() }

func unauthorized(op, code string, err error) *Error {
	return Fail(op, KindUnauthorized, code, err)
}

func rateLimited(op string, retryAfter time.Duration) *Error {
	return &Error{Op: op, Kind: KindRateLimited, Code: CodeRateLimited, RetryAfter: retryAfter}
}

// storeErr wraps a store failure for op, keeping its sentinel for KindOf.
func storeErr(op string, err error) error {
	return fmt.Errorf("%s: %w", op, err)
}

// Login checks credentials and opens a session. Unknown users, disabled
// users and wrong passwords get the same error after the same work; the
// account and the IP are throttled before any hashing.
func (a *Auth) Login(ctx context.Context, c Credentials) (TokenPair, error) {
	const op = "auth.login"
	login := NormalizeLogin(c.Login)
	var v Validation
	if login == "" {
		v.Add("login", "required")
	} else if utf8.RuneCountInString(login) > maxLoginLen {
		v.Add("login", "max_length", "max", maxLoginLen)
	}
	if c.Password == "" {
		v.Add("password", "required")
	}
	if err := v.Err(op); err != nil {
		return TokenPair{}, err
	}
	if c.IP != "" {
		if ok, wait := a.ipLimiter.Allow(c.IP); !ok {
			return TokenPair{}, rateLimited(op, wait)
		}
	}
	bad := unauthorized(op, CodeInvalidCredentials, nil)
	u, err := a.users.UserByLogin(ctx, login)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return TokenPair{}, storeErr(op, err)
	}
	// The budget is the account's, whichever of its logins (username or
	// mobile number) is typed; an unknown login has its own.
	account := "login:" + login
	if err == nil {
		account = "user:" + u.ID
	}
	if ok, wait := a.accountLimiter.Allow(account + "|" + c.IP); !ok {
		return TokenPair{}, rateLimited(op, wait)
	}
	if ok, wait := a.accountWide.Allow(account); !ok {
		return TokenPair{}, rateLimited(op, wait)
	}
	failed := func(reason string) (TokenPair, error) {
		e := AuditEvent{Kind: AuditLoginFailed, Login: login, IP: c.IP, UserAgent: c.UserAgent, Detail: reason}
		if u.ID != "" {
			e = e.aboutUser(u)
		}
		a.audit.Record(ctx, e)
		return TokenPair{}, bad
	}
	if errors.Is(err, ErrNotFound) || (err == nil && len(c.Password) > maxLoginPassLen) {
		if err := a.passwords.VerifyDummy(ctx, c.Password[:min(len(c.Password), maxLoginPassLen)]); err != nil {
			return TokenPair{}, storeErr(op, err)
		}
		if u.ID == "" {
			return failed("unknown_login")
		}
		return failed("password_too_long")
	}
	ok, rehash, err := a.passwords.Verify(ctx, u.PasswordHash, c.Password)
	if err != nil {
		if ctx.Err() != nil {
			return TokenPair{}, storeErr(op, err)
		}
		// A corrupt stored hash: the account cannot sign in, and must look
		// like any other failure from outside.
		a.log.ErrorContext(ctx, "unusable password hash", "user", u.ID, "err", err)
		if err := a.passwords.VerifyDummy(ctx, c.Password); err != nil {
			return TokenPair{}, storeErr(op, err)
		}
		return failed("unusable_password_hash")
	}
	if !ok {
		return failed("wrong_password")
	}
	if u.Disabled {
		return failed("account_disabled")
	}
	if rehash {
		a.rehash(ctx, u, c.Password)
	}

	now := a.now()
	sid := NewID(now)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	signer := a.tokens.current().signer
	if signer == nil {
		return TokenPair{}, storeErr(op, errors.New("no signing key"))
	}
	refresh := sealRefresh(signer, sid, refreshEncoding.EncodeToString(secret))
	rotated := now.Truncate(time.Second)
	s := Session{
		ID:          sid,
		UserID:      u.ID,
		Device:      truncateRunes(CleanText(c.Device), maxDeviceLen),
		UserAgent:   truncateRunes(c.UserAgent, maxUserAgentLen),
		IP:          c.IP,
		CurrentHash: hashRefresh(refresh),
		CreatedAt:   now,
		RotatedAt:   rotated,
		LastUsedAt:  now,
		ExpiresAt:   now.Add(a.cfg.RefreshTTL),
	}
	if err := a.sessions.CreateSession(ctx, s); err != nil {
		return TokenPair{}, storeErr(op, err)
	}
	access, expiresIn, err := a.tokens.Issue(u.ID, sid, rotated, accessJTI(sid, 0))
	if err != nil {
		return TokenPair{}, storeErr(op, err)
	}
	e := auditBy(Principal{User: u}, AuditLogin).aboutUser(u)
	e.Login, e.IP, e.UserAgent, e.Detail = login, c.IP, s.UserAgent, s.Device
	a.audit.Record(ctx, e)
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: expiresIn}, nil
}

// rehash replaces a hash made with old parameters. Failing is harmless
// (the old hash still works), so it only logs.
func (a *Auth) rehash(ctx context.Context, u User, password string) {
	h, err := a.passwords.Hash(ctx, password)
	if err == nil {
		u.PasswordHash = h
		_, err = a.users.UpdateUser(ctx, ScopeAll(), u)
	}
	if err != nil {
		a.log.WarnContext(ctx, "rehashing password", "user", u.ID, "err", err)
	}
}

// Refresh trades a refresh token for a new pair and rotates it. The token
// that was just rotated away still returns the same new pair within the
// grace window (a phone that lost the response retries); any other stale
// token means it was copied, and the whole session is revoked.
func (a *Auth) Refresh(ctx context.Context, refreshToken, ip string) (TokenPair, error) {
	const op = "auth.refresh"
	sid, ok := parseRefresh(refreshToken)
	if !ok {
		return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("malformed refresh token"))
	}
	s, err := a.sessions.Session(ctx, sid)
	if errors.Is(err, ErrNotFound) {
		return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("no such session"))
	}
	if err != nil {
		return TokenPair{}, storeErr(op, err)
	}
	now := a.now()
	if !s.Active(now) {
		return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("session revoked or expired"))
	}
	h := hashRefresh(refreshToken)

	if equalHash(h, s.CurrentHash) {
		u, err := a.users.User(ctx, ScopeAll(), s.UserID)
		if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
			return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("user gone or disabled"))
		}
		if err != nil {
			return TokenPair{}, storeErr(op, err)
		}
		gen := s.Generation + 1
		signer := a.tokens.current().signer
		if signer == nil {
			return TokenPair{}, storeErr(op, errors.New("no signing key"))
		}
		next := sealRefresh(signer, sid, refreshEncoding.EncodeToString(refreshMAC(signer, refreshData(sid, gen, refreshToken))))
		rotated := now.Truncate(time.Second)
		r := Rotation{
			CurrentHash: hashRefresh(next),
			PrevHash:    s.CurrentHash,
			Generation:  gen,
			RotatedAt:   rotated,
			ExpiresAt:   now.Add(a.cfg.RefreshTTL),
			IP:          ip,
		}
		err = a.sessions.RotateSession(ctx, sid, s.Generation, r)
		switch {
		case err == nil:
			access, expiresIn, err := a.tokens.Issue(s.UserID, sid, rotated, accessJTI(sid, gen))
			if err != nil {
				return TokenPair{}, storeErr(op, err)
			}
			return TokenPair{AccessToken: access, RefreshToken: next, ExpiresIn: expiresIn}, nil
		case errors.Is(err, ErrStale):
			// A concurrent retry of the same token won the rotation: answer
			// like a retry within the grace window.
			s, err = a.sessions.Session(ctx, sid)
			if errors.Is(err, ErrNotFound) {
				return TokenPair{}, unauthorized(op, CodeInvalidToken, err)
			}
			if err != nil {
				return TokenPair{}, storeErr(op, err)
			}
			if !s.Active(now) || !equalHash(h, s.PrevHash) {
				return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("session moved on"))
			}
			return a.replay(ctx, op, s, refreshToken)
		case errors.Is(err, ErrNotFound):
			return TokenPair{}, unauthorized(op, CodeInvalidToken, err)
		default:
			return TokenPair{}, storeErr(op, err)
		}
	}

	if equalHash(h, s.PrevHash) && now.Sub(s.RotatedAt) <= a.cfg.RefreshGrace {
		return a.replay(ctx, op, s, refreshToken)
	}

	// Only a token this server really issued proves theft: the session id
	// travels in every access token, so a made-up secret with a real id
	// must not let anyone sign the owner out.
	if !a.tokens.issuedRefresh(refreshToken) {
		a.log.WarnContext(ctx, "refresh token not issued by this server", "session", sid, "ip", ip)
		return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("refresh token not issued here"))
	}
	// An old token presented after its successor was issued: the token was
	// copied, so nobody holding either can be trusted (RFC 9700 4.14.2).
	if err := a.sessions.RevokeSession(ctx, s.UserID, sid, now); err != nil {
		return TokenPair{}, storeErr(op, err)
	}
	a.log.WarnContext(ctx, "refresh token reuse: session revoked", "session", sid, "user", s.UserID, "ip", ip)
	e := AuditEvent{Kind: AuditRefreshReuse, IP: ip, SubjectType: "user", SubjectID: s.UserID, Detail: "session " + sid}
	if u, err := a.users.User(ctx, ScopeAll(), s.UserID); err == nil {
		e = e.aboutUser(u)
	}
	a.audit.Record(ctx, e)
	return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("refresh token reuse"))
}

// replay recomputes the pair the rotation to generation s.Generation
// returned for presented, and returns it if it is still the session's
// current one. It tries every verifying key: the key may have rotated, or
// this instance may sign with another key than the one that answered.
func (a *Auth) replay(ctx context.Context, op string, s Session, presented string) (TokenPair, error) {
	for _, c := range a.tokens.refreshMACs(refreshData(s.ID, s.Generation, presented)) {
		next := sealRefresh(c.key, s.ID, refreshEncoding.EncodeToString(c.mac))
		if !equalHash(hashRefresh(next), s.CurrentHash) {
			continue
		}
		access, expiresIn, err := a.tokens.issueWith(c.key, s.UserID, s.ID, s.RotatedAt, accessJTI(s.ID, s.Generation))
		if err != nil {
			return TokenPair{}, storeErr(op, err)
		}
		return TokenPair{AccessToken: access, RefreshToken: next, ExpiresIn: expiresIn}, nil
	}
	// The session rotated again, or the key that made the token is gone:
	// we cannot give the same answer, but this is no evidence of theft.
	return TokenPair{}, unauthorized(op, CodeInvalidToken, errors.New("refresh retry cannot be replayed"))
}

// Authenticate verifies an access token and loads its user and session:
// a disabled user, a revoked or expired session, or a token issued before
// the last password change are refused.
func (a *Auth) Authenticate(ctx context.Context, accessToken string) (Principal, error) {
	const op = "auth.authenticate"
	cache := a.cfg.Principals
	var gen uint64
	if cache != nil {
		p, g, ok := cache.lookup(accessToken)
		if ok {
			return p, nil
		}
		gen = g
	}
	claims, err := a.tokens.Verify(ctx, accessToken)
	if err != nil {
		return Principal{}, unauthorized(op, CodeInvalidToken, err)
	}
	u, err := a.users.User(ctx, ScopeAll(), claims.Subject)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unauthorized(op, CodeInvalidToken, err)
	}
	if err != nil {
		return Principal{}, storeErr(op, err)
	}
	if u.Disabled {
		return Principal{}, unauthorized(op, CodeInvalidToken, errors.New("user disabled"))
	}
	// iat has whole seconds; compare at that precision so a token issued
	// in the same second as the change is not refused.
	if claims.IssuedAt.Time.Before(u.PasswordChangedAt.Truncate(time.Second)) {
		return Principal{}, unauthorized(op, CodeInvalidToken, errors.New("token predates password change"))
	}
	s, err := a.sessions.Session(ctx, claims.SessionID)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unauthorized(op, CodeInvalidToken, err)
	}
	if err != nil {
		return Principal{}, storeErr(op, err)
	}
	if s.UserID != u.ID || !s.Active(a.now()) {
		return Principal{}, unauthorized(op, CodeInvalidToken, errors.New("session revoked or expired"))
	}
	p := Principal{User: u, SessionID: s.ID}
	if cache != nil {
		expires := s.ExpiresAt
		if claims.ExpiresAt != nil && claims.ExpiresAt.Time.Before(expires) {
			expires = claims.ExpiresAt.Time
		}
		cache.store(accessToken, p, gen, expires)
	}
	return p, nil
}

// Logout revokes the caller's session; its refresh token stops working at
// once and its access token at the next request.
func (a *Auth) Logout(ctx context.Context, p Principal) error {
	if err := a.sessions.RevokeSession(ctx, p.User.ID, p.SessionID, a.now()); err != nil {
		return storeErr("auth.logout", err)
	}
	e := auditBy(p, AuditLogout).aboutUser(p.User)
	e.Detail = "session " + p.SessionID
	a.audit.Record(ctx, e)
	return nil
}

// Sessions lists the caller's active sessions, newest first.
func (a *Auth) Sessions(ctx context.Context, p Principal) ([]Session, error) {
	ss, err := a.sessions.UserSessions(ctx, p.User.ID, a.now())
	if err != nil {
		return nil, storeErr("auth.sessions", err)
	}
	return ss, nil
}

// RevokeSession revokes one of the caller's own sessions; anyone else's is
// ErrNotFound.
func (a *Auth) RevokeSession(ctx context.Context, p Principal, id string) error {
	const op = "auth.revoke_session"
	s, err := a.sessions.Session(ctx, id)
	if err != nil {
		return storeErr(op, err)
	}
	if s.UserID != p.User.ID {
		return storeErr(op, ErrNotFound)
	}
	if err := a.sessions.RevokeSession(ctx, p.User.ID, id, a.now()); err != nil {
		return storeErr(op, err)
	}
	e := auditBy(p, AuditSessionRevoked).aboutUser(p.User)
	e.Detail = "session " + id
	a.audit.Record(ctx, e)
	return nil
}

// RotateKeys makes a new token signing key, which signs from now on, and
// retires keys older than retireOlderThan (tokens they signed have long
// expired). Only a system administrator may.
func (a *Auth) RotateKeys(ctx context.Context, p Principal, retireOlderThan time.Duration) (string, error) {
	const op = "auth.rotate_keys"
	if p.User.Role != RoleSysadmin {
		return "", Fail(op, KindForbidden, "forbidden", nil)
	}
	kid, err := a.tokens.Rotate(ctx, retireOlderThan)
	if err != nil {
		return "", err
	}
	e := auditBy(p, AuditKeyRotated)
	e.SubjectType, e.SubjectID = "signing_key", kid
	a.audit.Record(ctx, e)
	return kid, nil
}

// ChangePassword replaces the caller's password after checking the old
// one, then revokes every other session and invalidates access tokens
// issued before now (the caller's own client refreshes).
func (a *Auth) ChangePassword(ctx context.Context, p Principal, oldPassword, newPassword string) error {
	const op = "auth.change_password"
	var v Validation
	if oldPassword == "" {
		v.Add("current_password", "required")
	}
	for _, fe := range CheckPassword(newPassword) {
		fe.Field = "new_password"
		v.fields = append(v.fields, fe)
	}
	if len(v.fields) == 0 && oldPassword == newPassword {
		v.Add("new_password", "unchanged")
	}
	if err := v.Err(op); err != nil {
		return err
	}
	// Throttled like a sign-in (same budget): a stolen access token must
	// not become a password-guessing oracle.
	if ok, wait := a.accountWide.Allow("user:" + p.User.ID); !ok {
		return rateLimited(op, wait)
	}
	for attempt := 0; ; attempt++ {
		u, err := a.users.User(ctx, ScopeAll(), p.User.ID)
		if err != nil {
			return storeErr(op, err)
		}
		ok, _, err := a.passwords.Verify(ctx, u.PasswordHash, oldPassword)
		if err != nil && ctx.Err() != nil {
			return storeErr(op, err)
		}
		if !ok {
			return Invalid(op, Field("current_password", "incorrect"))
		}
		h, err := a.passwords.Hash(ctx, newPassword)
		if err != nil {
			return storeErr(op, err)
		}
		now := a.now()
		u.PasswordHash = h
		u.PasswordChangedAt = now
		u.MustChangePassword = false
		_, err = a.users.UpdateUser(ctx, ScopeAll(), u)
		if errors.Is(err, ErrStale) && attempt < 2 {
			continue // an admin edited the account meanwhile: reread it
		}
		if err != nil {
			return storeErr(op, err)
		}
		if err := a.sessions.RevokeUserSessions(ctx, u.ID, p.SessionID, now); err != nil {
			return storeErr(op, err)
		}
		a.audit.Record(ctx, auditBy(p, AuditPasswordChanged).aboutUser(u))
		return nil
	}
}

// ResetPassword is the operator's way back in (huizong admin
// reset-password): it sets the password of the account with login, or a
// generated one when password is empty (returned, and the account must
// change it at next sign-in), then signs the account out everywhere and
// invalidates its access tokens. It needs no principal: whoever can run
// the binary against the data already holds the data.
func (a *Auth) ResetPassword(ctx context.Context, login, password string) (generated string, u User, err error) {
	const op = "auth.reset_password"
	u, err = a.users.UserByLogin(ctx, NormalizeLogin(login))
	if err != nil {
		return "", User{}, storeErr(op, err)
	}
	if password == "" {
		generated = GeneratePassword()
		password = generated
	} else if fe := CheckPassword(password); len(fe) > 0 {
		return "", User{}, Invalid(op, fe...)
	}
	if u.PasswordHash, err = a.passwords.Hash(ctx, password); err != nil {
		return "", User{}, storeErr(op, err)
	}
	now := a.now()
	u.PasswordChangedAt, u.UpdatedAt, u.MustChangePassword = now, now, generated != ""
	if u, err = a.users.UpdateUser(ctx, ScopeAll(), u); err != nil {
		return "", User{}, storeErr(op, err)
	}
	if err := a.sessions.RevokeUserSessions(ctx, u.ID, "", now); err != nil {
		return "", User{}, storeErr(op, err)
	}
	a.log.WarnContext(ctx, "password reset by the operator; every session revoked", "user", u.ID, "username", u.Username)
	e := AuditEvent{Kind: AuditPasswordReset, ActorName: auditOperator, Detail: "huizong admin reset-password"}.aboutUser(u)
	a.audit.Record(ctx, e)
	return generated, u, nil
}

// EnsureAdmin creates the first account on an empty store: the system
// administrator "admin", belonging to no org unit, with password or, when
// that is empty, a generated one that is returned so the caller can show
// it once (the account must then change it). It does nothing when any
// account exists or another instance created it first.
func (a *Auth) EnsureAdmin(ctx context.Context, password string) (generated string, created bool, err error) {
	const op = "auth.ensure_admin"
	n, err := a.users.CountUsers(ctx, ScopeAll(), UserQuery{})
	if err != nil {
		return "", false, storeErr(op, err)
	}
	if n > 0 {
		return "", false, nil
	}
	if password == "" {
		generated = rand.Text() // 26 characters, 130 bits
		password = generated
	} else if fe := CheckPassword(password); len(fe) > 0 {
		return "", false, Invalid(op, fe...)
	}
	h, err := a.passwords.Hash(ctx, password)
	if err != nil {
		return "", false, storeErr(op, err)
	}
	now := a.now()
	u := User{
		ID:                 NewID(now),
		Username:           "admin",
		Name:               "系统管理员",
		Role:               RoleSysadmin,
		PasswordHash:       h,
		MustChangePassword: generated != "",
		PasswordChangedAt:  now,
		Version:            1,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	err = a.users.CreateUsers(ctx, []User{u})
	if errors.Is(err, ErrConflict) {
		return "", false, nil
	}
	if err != nil {
		return "", false, storeErr(op, err)
	}
	a.log.InfoContext(ctx, "created the first system administrator", "username", u.Username)
	a.audit.Record(ctx, AuditEvent{Kind: AuditUserCreated, ActorName: auditOperator, Detail: "first start"}.aboutUser(u))
	return generated, true, nil
}

// parseRefresh checks the shape <session id>.<43 base64url characters>.<22
// base64url characters of issuance tag> and returns the session id.
func parseRefresh(tok string) (string, bool) {
	if len(tok) > maxRefreshLen {
		return "", false
	}
	sid, rest, ok := strings.Cut(tok, ".")
	secret, tag, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || len(sid) != 26 || len(secret) != 43 || len(tag) != refreshTagLen {
		return "", false
	}
	for i := 0; i < len(sid); i++ {
		c := sid[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return "", false
		}
	}
	if b, err := refreshEncoding.Strict().DecodeString(secret); err != nil || len(b) != 32 {
		return "", false
	}
	if b, err := refreshEncoding.Strict().DecodeString(tag); err != nil || len(b) != 16 {
		return "", false
	}
	return sid, true
}

// refreshTagLen is the length of a refresh token's issuance tag: 16 bytes
// of HMAC, base64url.
const refreshTagLen = 22

// sealRefresh appends to sid.secret the tag that proves k's server issued
// it: an HMAC under the refresh secret derived from k.
func sealRefresh(k *tokenKey, sid, secret string) string {
	body := sid + "." + secret
	return body + "." + refreshEncoding.EncodeToString(refreshMAC(k, []byte("issued|"+body))[:16])
}

// issuedRefresh reports whether tok carries a valid issuance tag under any
// verifying key, that is, whether this server (or an instance sharing its
// keys) issued it.
func (t *Tokens) issuedRefresh(tok string) bool {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return false
	}
	body, tag := tok[:i], tok[i+1:]
	for _, c := range t.refreshMACs([]byte("issued|" + body)) {
		if subtle.ConstantTimeCompare([]byte(refreshEncoding.EncodeToString(c.mac[:16])), []byte(tag)) == 1 {
			return true
		}
	}
	return false
}

// hashRefresh is how a refresh token is stored: hex SHA-256. The token has
// 256 random bits, so no salt or slow hash is needed.
func hashRefresh(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func equalHash(a, b string) bool {
	return b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// refreshData is what the next refresh token is derived from.
func refreshData(sid string, generation int64, presented string) []byte {
	return []byte(sid + "|" + strconv.FormatInt(generation, 10) + "|" + presented)
}

// accessJTI is the jti of the access token issued at a generation: unique
// per rotation, yet recomputable for a retry.
func accessJTI(sid string, generation int64) string {
	return sid + "-" + strconv.FormatInt(generation, 10)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
