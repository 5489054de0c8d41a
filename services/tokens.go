package services

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token settings and limits.
const (
	// TokenAlgorithm is the only JWS algorithm issued and accepted.
	TokenAlgorithm = "EdDSA"
	// MaxTokenLen bounds an access token; anything longer is refused
	// before any parsing (our tokens are ~400 bytes).
	MaxTokenLen = 4096
	// MaxTokenLeeway is the most clock skew tolerated (RFC 8725 advice).
	MaxTokenLeeway = 60 * time.Second
	// useAccess is the value of the "use" claim of access tokens, so that
	// no other kind of token can ever pass as one.
	useAccess = "access"
)

// TokenConfig configures Tokens.
type TokenConfig struct {
	Issuer   string
	Audience string
	// AccessTTL is the lifetime of an access token (default 15 minutes).
	AccessTTL time.Duration
	// Leeway is the clock skew tolerated (default 30 s, at most 60 s).
	Leeway time.Duration
	// KeyFile is an optional PEM "PRIVATE KEY" block (PKCS #8 Ed25519),
	// already read by the caller. When set it signs, and the keys in the
	// store only verify.
	KeyFile []byte
	// ReloadEvery is how often the key set is re-read from the store so
	// instances agree after a rotation (default one minute).
	ReloadEvery time.Duration
	// MissReloadEvery throttles re-reading the store when a token names a
	// kid we do not know (default five seconds), so forged kids cannot
	// turn into a flood of store reads.
	MissReloadEvery time.Duration
}

// AccessClaims are the claims of a verified access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	// SessionID is the session (sid) the token was issued for.
	SessionID string `json:"sid"`
	// Use is always "access".
	Use string `json:"use"`
}

// tokenKey is one parsed signing key.
type tokenKey struct {
	id        string
	priv      ed25519.PrivateKey
	createdAt time.Time
	// refresh is the HMAC secret derived from the key for refresh tokens.
	refresh []byte
}

// keySet is an immutable snapshot of the keys in use.
type keySet struct {
	signer *tokenKey
	// all maps kid to every key that verifies, signer included.
	all map[string]*tokenKey
	// ordered lists all, signer first, for trying each key in turn.
	ordered []*tokenKey
}

// Tokens issues and verifies access tokens (JWT, EdDSA over Ed25519). The
// keys live in a KeyStore shared by every instance (or, optionally, a key
// file); the newest key that is not retired signs and every key that is
// not retired verifies, so a rotation logs nobody out.
type Tokens struct {
	store  KeyStore
	clock  Clock
	cfg    TokenConfig
	log    *slog.Logger
	file   *tokenKey
	parser *jwt.Parser

	mu       sync.RWMutex
	keys     *keySet
	loadedAt time.Time
	missAt   time.Time

	// reloadMu serialises store reads so a burst of unknown kids costs
	// one read.
	reloadMu sync.Mutex
}

// NewTokens returns Tokens over store; call Init before use. It fails
// when the issuer or audience is missing (tokens must be bound to both) or
// cfg.KeyFile is set but is not a PKCS #8 Ed25519 PEM key.
func NewTokens(store KeyStore, clock Clock, cfg TokenConfig, log *slog.Logger) (*Tokens, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("new tokens: issuer and audience are required")
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	cfg.Leeway = min(cfg.Leeway, MaxTokenLeeway)
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = time.Minute
	}
	if cfg.MissReloadEvery <= 0 {
		cfg.MissReloadEvery = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tokens{store: store, clock: clock, cfg: cfg, log: log}
	if len(cfg.KeyFile) > 0 {
		k, err := parseKeyFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("new tokens: %w", err)
		}
		t.file = k
	}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{TokenAlgorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(clock),
	)
	return t, nil
}

// KeyID is the kid of an Ed25519 public key: the first 16 hex characters
// of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])[:16]
}

func parseKeyFile(data []byte) (*tokenKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("key file: no PEM PRIVATE KEY block")
	}
	k, err := parsePKCS8(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	k.id = KeyID(k.priv.Public().(ed25519.PublicKey))
	return k, nil
}

func parsePKCS8(der []byte) (*tokenKey, error) {
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	priv, ok := raw.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse key: %T is not Ed25519", raw)
	}
	secret, err := hkdf.Key(sha256.New, priv.Seed(), nil, "huizong refresh token v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive refresh secret: %w", err)
	}
	return &tokenKey{priv: priv, refresh: secret}, nil
}

// Init loads the keys. With no usable key in the store and no key file it
// generates one and stores it for every instance.
func (t *Tokens) Init(ctx context.Context) error {
	if err := t.Reload(ctx); err != nil {
		return fmt.Errorf("tokens init: %w", err)
	}
	if t.current().signer != nil {
		return nil
	}
	if _, err := t.createKey(ctx, time.Time{}); err != nil {
		return fmt.Errorf("tokens init: %w", err)
	}
	if err := t.Reload(ctx); err != nil {
		return fmt.Errorf("tokens init: %w", err)
	}
	if t.current().signer == nil {
		return errors.New("tokens init: no signing key after creating one")
	}
	return nil
}

// createKey generates a key and stores it, dated strictly after after
// (stores keep milliseconds) so that it is the newest. ErrConflict (another
// instance stored the same id) is not an error: the caller reloads.
func (t *Tokens) createKey(ctx context.Context, after time.Time) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("marshal key: %w", err)
	}
	id := KeyID(pub)
	// Stores keep milliseconds: compare at that precision, or two keys made
	// within one millisecond would tie and either might sign.
	created := t.clock().UTC().Truncate(time.Millisecond)
	if !created.After(after) {
		created = after.Add(time.Millisecond)
	}
	k := SigningKey{ID: id, Algorithm: TokenAlgorithm, PrivateKey: der, CreatedAt: created}
	if err := t.store.CreateKey(ctx, k); err != nil && !errors.Is(err, ErrConflict) {
		return "", fmt.Errorf("store key: %w", err)
	}
	t.log.InfoContext(ctx, "token signing key created", "kid", id)
	return id, nil
}

// Rotate adds a new signing key, which signs from now on (other instances
// pick it up at their next reload, and verify it at once through the
// unknown-kid reload). With retireOlderThan > 0 it also retires keys
// created before now-retireOlderThan, but only those whose successor has
// been signing longer than an access token lives, so no valid token loses
// its key. It fails when the signing key comes from a key file.
func (t *Tokens) Rotate(ctx context.Context, retireOlderThan time.Duration) (string, error) {
	if t.file != nil {
		// Rotation then means replacing the file; say so rather than fail.
		return "", &Error{Op: "rotate keys", Kind: KindConflict, Code: "signing_key_file"}
	}
	old, err := t.store.Keys(ctx)
	if err != nil {
		return "", fmt.Errorf("rotate keys: %w", err)
	}
	var newest time.Time
	for _, k := range old {
		if k.CreatedAt.After(newest) {
			newest = k.CreatedAt
		}
	}
	id, err := t.createKey(ctx, newest.Truncate(time.Millisecond))
	if err != nil {
		return "", fmt.Errorf("rotate keys: %w", err)
	}
	if retireOlderThan > 0 {
		now := t.clock().UTC()
		live := make([]SigningKey, 0, len(old))
		for _, k := range old {
			if k.RetiredAt.IsZero() {
				live = append(live, k)
			}
		}
		sort.Slice(live, func(i, j int) bool { return live[i].CreatedAt.After(live[j].CreatedAt) })
		// live[0] was signing until now; live[i] stopped signing when
		// live[i-1] was created.
		for i := 1; i < len(live); i++ {
			k, successor := live[i], live[i-1]
			if k.CreatedAt.Before(now.Add(-retireOlderThan)) &&
				successor.CreatedAt.Before(now.Add(-t.cfg.AccessTTL-t.cfg.Leeway)) {
				if err := t.store.RetireKey(ctx, k.ID, now); err != nil {
					return "", fmt.Errorf("rotate keys: retire %s: %w", k.ID, err)
				}
				t.log.InfoContext(ctx, "token signing key retired", "kid", k.ID)
			}
		}
	}
	if err := t.Reload(ctx); err != nil {
		return "", fmt.Errorf("rotate keys: %w", err)
	}
	return id, nil
}

// Reload re-reads the keys from the store.
func (t *Tokens) Reload(ctx context.Context) error {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	return t.reloadLocked(ctx)
}

func (t *Tokens) reloadLocked(ctx context.Context) error {
	stored, err := t.store.Keys(ctx)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	set := &keySet{all: make(map[string]*tokenKey, len(stored)+1)}
	var live []*tokenKey
	for _, sk := range stored {
		if !sk.RetiredAt.IsZero() {
			continue
		}
		if sk.Algorithm != TokenAlgorithm {
			t.log.WarnContext(ctx, "skipping signing key", "kid", sk.ID, "alg", sk.Algorithm)
			continue
		}
		k, err := parsePKCS8(sk.PrivateKey)
		if err != nil {
			t.log.WarnContext(ctx, "skipping signing key", "kid", sk.ID, "err", err)
			continue
		}
		k.id, k.createdAt = sk.ID, sk.CreatedAt
		live = append(live, k)
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].createdAt.After(live[j].createdAt) })
	if t.file != nil {
		live = append([]*tokenKey{t.file}, live...)
	}
	for _, k := range live {
		if _, dup := set.all[k.id]; dup {
			continue
		}
		set.all[k.id] = k
		set.ordered = append(set.ordered, k)
	}
	if len(set.ordered) > 0 {
		set.signer = set.ordered[0]
	}
	t.mu.Lock()
	t.keys = set
	t.loadedAt = t.clock()
	t.mu.Unlock()
	return nil
}

func (t *Tokens) current() *keySet {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.keys == nil {
		return &keySet{}
	}
	return t.keys
}

// SigningKeyID returns the kid new tokens are signed with ("" before Init).
func (t *Tokens) SigningKeyID() string {
	if s := t.current().signer; s != nil {
		return s.id
	}
	return ""
}

// AccessTTL returns how long an access token lives.
func (t *Tokens) AccessTTL() time.Duration { return t.cfg.AccessTTL }

// Issue signs an access token for the user's session. The token depends
// only on its inputs and the signing key (Ed25519 signatures are
// deterministic), which lets a refresh retried within the grace window
// return the very same token. expiresIn is what remains of its lifetime.
func (t *Tokens) Issue(userID, sessionID string, issuedAt time.Time, jti string) (string, time.Duration, error) {
	signer := t.current().signer
	if signer == nil {
		return "", 0, errors.New("issue token: no signing key (Init not called?)")
	}
	return t.issueWith(signer, userID, sessionID, issuedAt, jti)
}

func (t *Tokens) issueWith(k *tokenKey, userID, sessionID string, issuedAt time.Time, jti string) (string, time.Duration, error) {
	iat := issuedAt.UTC().Truncate(time.Second)
	exp := iat.Add(t.cfg.AccessTTL)
	claims := AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.cfg.Issuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{t.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        jti,
		},
		SessionID: sessionID,
		Use:       useAccess,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = k.id
	s, err := tok.SignedString(k.priv)
	if err != nil {
		return "", 0, fmt.Errorf("issue token: %w", err)
	}
	left := exp.Sub(t.clock()).Truncate(time.Second)
	return s, max(left, 0), nil
}

// errUnknownKey is returned for a kid outside the server's key set.
var errUnknownKey = errors.New("unknown signing key")

// Verify checks an access token: size, algorithm, signature by one of our
// own keys (chosen by kid only from our set), issuer, audience, expiry,
// issue time and the "use" claim.
func (t *Tokens) Verify(ctx context.Context, token string) (AccessClaims, error) {
	var claims AccessClaims
	if len(token) > MaxTokenLen {
		return claims, errors.New("verify token: too long")
	}
	t.maybeReload(ctx)
	_, err := t.parser.ParseWithClaims(token, &claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		k := t.lookup(ctx, kid)
		if k == nil {
			return nil, fmt.Errorf("%w %q", errUnknownKey, kid)
		}
		return k.priv.Public(), nil
	})
	if err != nil {
		return AccessClaims{}, fmt.Errorf("verify token: %w", err)
	}
	if claims.Use != useAccess {
		return AccessClaims{}, fmt.Errorf("verify token: use %q is not %q", claims.Use, useAccess)
	}
	if claims.Subject == "" || claims.SessionID == "" || claims.IssuedAt == nil {
		return AccessClaims{}, errors.New("verify token: missing sub, sid or iat")
	}
	return claims, nil
}

// lookup finds kid, reloading the store (throttled) when it is unknown:
// another instance may have rotated.
func (t *Tokens) lookup(ctx context.Context, kid string) *tokenKey {
	if k := t.current().all[kid]; k != nil {
		return k
	}
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	// Someone may have reloaded while we waited.
	if k := t.current().all[kid]; k != nil {
		return k
	}
	now := t.clock()
	t.mu.Lock()
	throttled := now.Sub(t.missAt) < t.cfg.MissReloadEvery
	if !throttled {
		t.missAt = now
	}
	t.mu.Unlock()
	if throttled {
		return nil
	}
	if err := t.reloadLocked(ctx); err != nil {
		t.log.WarnContext(ctx, "reloading signing keys", "err", err)
		return nil
	}
	return t.current().all[kid]
}

// maybeReload refreshes the key set when it is older than ReloadEvery. One
// caller reloads; the others go on with the keys they have.
func (t *Tokens) maybeReload(ctx context.Context) {
	t.mu.RLock()
	stale := t.clock().Sub(t.loadedAt) >= t.cfg.ReloadEvery
	t.mu.RUnlock()
	if !stale || !t.reloadMu.TryLock() {
		return
	}
	defer t.reloadMu.Unlock()
	if err := t.reloadLocked(ctx); err != nil {
		t.log.WarnContext(ctx, "reloading signing keys", "err", err)
	}
}

// refreshMAC is HMAC-SHA256 of data under the refresh secret derived
// (HKDF) from k; refresh tokens are derived with it so a retried refresh
// can recompute the token it was given.
func refreshMAC(k *tokenKey, data []byte) []byte {
	m := hmac.New(sha256.New, k.refresh)
	m.Write(data)
	return m.Sum(nil)
}

// refreshCandidate is a refresh MAC under one key, with the key, so the
// access token can be re-signed with the same key.
type refreshCandidate struct {
	key *tokenKey
	mac []byte
}

// refreshMACs returns the MAC of data under every verifying key, signer
// first: a retry may reach an instance, or a moment, with another signing
// key than the original refresh.
func (t *Tokens) refreshMACs(data []byte) []refreshCandidate {
	set := t.current()
	out := make([]refreshCandidate, 0, len(set.ordered))
	for _, k := range set.ordered {
		out = append(out, refreshCandidate{key: k, mac: refreshMAC(k, data)})
	}
	return out
}
