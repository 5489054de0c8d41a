package services_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/huizong/huizong/repository/sqlite"
	"github.com/huizong/huizong/services"
)

const (
	testIssuer   = "https://huizong.test"
	testAudience = "huizong-api"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 10, 9, 8, 30, 0, 123_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a real embedded store in a fresh directory.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newTokens(t *testing.T, keys services.KeyStore, clk *fakeClock, keyFile []byte) *services.Tokens {
	t.Helper()
	tk, err := services.NewTokens(keys, clk.Now, services.TokenConfig{
		Issuer: testIssuer, Audience: testAudience, AccessTTL: 15 * time.Minute, Leeway: 30 * time.Second, KeyFile: keyFile,
	}, nil)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	if err := tk.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return tk
}

// storedKey returns the private key kid from the store, to forge tokens
// the way only a key holder could.
func storedKey(t *testing.T, keys services.KeyStore, kid string) ed25519.PrivateKey {
	t.Helper()
	all, err := keys.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		if k.ID == kid {
			raw, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			return raw.(ed25519.PrivateKey)
		}
	}
	t.Fatalf("key %s not in store", kid)
	return nil
}

func headerKID(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func TestTokensIssueVerify(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	tk := newTokens(t, openStore(t), clk, nil)

	tok, expiresIn, err := tk.Issue("user1", "sess1", clk.Now(), "jti1")
	if err != nil {
		t.Fatal(err)
	}
	if want := 15*time.Minute - 123*time.Millisecond; expiresIn != want.Truncate(time.Second) {
		t.Errorf("expiresIn = %v, want %v (iat has whole seconds)", expiresIn, want.Truncate(time.Second))
	}
	again, _, err := tk.Issue("user1", "sess1", clk.Now(), "jti1")
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Error("Issue is not deterministic for the same inputs")
	}
	if got := headerKID(t, tok); got != tk.SigningKeyID() || len(got) != 16 {
		t.Errorf("kid = %q, want the signing key %q (16 hex)", got, tk.SigningKeyID())
	}

	clk.Add(5 * time.Minute)
	c, err := tk.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	iat := clk.Now().Add(-5 * time.Minute).Truncate(time.Second)
	type view struct {
		Iss, Sub, Sid, Jti, Use string
		Aud                     []string
		Iat, Exp                time.Time
	}
	got := view{c.Issuer, c.Subject, c.SessionID, c.ID, c.Use, c.Audience, c.IssuedAt.UTC(), c.ExpiresAt.UTC()}
	want := view{testIssuer, "user1", "sess1", "jti1", "access", []string{testAudience}, iat, iat.Add(15 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestTokensReject(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	keys := openStore(t)
	tk := newTokens(t, keys, clk, nil)
	kid := tk.SigningKeyID()
	priv := storedKey(t, keys, kid)
	pub := priv.Public().(ed25519.PublicKey)
	now := clk.Now()

	claims := func(edit func(m jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{
			"iss": testIssuer, "aud": []string{testAudience}, "sub": "user1", "sid": "sess1",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "j", "use": "access",
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	valid := sign(jwt.SigningMethodEdDSA, priv, kid, claims(nil))
	if _, err := tk.Verify(ctx, valid); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	expired, _, err := tk.Issue("user1", "sess1", now.Add(-16*time.Minute), "j")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"user1"`, `"admin"`, 1))) + "." + parts[2]

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claims(nil))},
		{"HS256 keyed with the public key", sign(jwt.SigningMethodHS256, []byte(pub), kid, claims(nil))},
		{"HS256 keyed with the public key PEM", sign(jwt.SigningMethodHS256, publicPEM(t, pub), kid, claims(nil))},
		{"expired", expired},
		{"no exp", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { delete(m, "exp") }))},
		{"issued in the future", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { m["iat"] = now.Add(5 * time.Minute).Unix() }))},
		{"wrong aud", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { m["aud"] = "other-api" }))},
		{"no aud", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { delete(m, "aud") }))},
		{"wrong iss", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { m["iss"] = "https://evil.test" }))},
		{"use refresh", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { m["use"] = "refresh" }))},
		{"no use", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { delete(m, "use") }))},
		{"no sid", sign(jwt.SigningMethodEdDSA, priv, kid, claims(func(m jwt.MapClaims) { delete(m, "sid") }))},
		{"no kid", sign(jwt.SigningMethodEdDSA, priv, "", claims(nil))},
		{"unknown kid", sign(jwt.SigningMethodEdDSA, otherPriv, services.KeyID(otherPriv.Public().(ed25519.PublicKey)), claims(nil))},
		{"our kid, other key", sign(jwt.SigningMethodEdDSA, otherPriv, kid, claims(nil))},
		{"tampered payload", tampered},
		{"oversized", valid + strings.Repeat("A", 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tk.Verify(ctx, tt.token); err == nil {
				t.Fatal("Verify accepted the token")
			}
		})
	}

	t.Run("1 MB token is refused fast", func(t *testing.T) {
		huge := strings.Repeat("A", 1<<20)
		start := time.Now()
		if _, err := tk.Verify(ctx, huge); err == nil {
			t.Fatal("accepted")
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("took %v", d)
		}
	})
}

func publicPEM(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestTokensRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	keys := openStore(t)
	a := newTokens(t, keys, clk, nil)
	b := newTokens(t, keys, clk, nil) // a second instance on the same store

	if a.SigningKeyID() != b.SigningKeyID() {
		t.Fatalf("instances sign with %s and %s: the second should load the first's key", a.SigningKeyID(), b.SigningKeyID())
	}
	oldKID := a.SigningKeyID()
	oldTok, _, err := a.Issue("u", "s", clk.Now(), "j1")
	if err != nil {
		t.Fatal(err)
	}

	newKID, err := a.Rotate(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if newKID == oldKID || a.SigningKeyID() != newKID {
		t.Fatalf("after Rotate: new kid %s, signing %s, old %s", newKID, a.SigningKeyID(), oldKID)
	}
	newTok, _, err := a.Issue("u", "s", clk.Now(), "j2")
	if err != nil {
		t.Fatal(err)
	}
	if got := headerKID(t, newTok); got != newKID {
		t.Fatalf("new token kid %s, want %s", got, newKID)
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := a.Verify(ctx, tok); err != nil {
			t.Errorf("rotating instance refuses the %s token: %v", name, err)
		}
		// b has not reloaded yet: the unknown kid makes it look.
		if _, err := b.Verify(ctx, tok); err != nil {
			t.Errorf("other instance refuses the %s token: %v", name, err)
		}
	}
	clk.Add(time.Minute)
	if _, err := b.Verify(ctx, newTok); err != nil {
		t.Fatal(err)
	}
	if b.SigningKeyID() != newKID {
		t.Errorf("other instance signs with %s after its periodic reload, want %s", b.SigningKeyID(), newKID)
	}

	// Retiring: the first key stopped signing at the rotation; once its
	// successor has signed longer than a token lives, it may go.
	clk.Add(20 * time.Minute)
	if _, err := a.Rotate(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	stored, err := keys.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	retired := map[string]bool{}
	for _, k := range stored {
		retired[k.ID] = !k.RetiredAt.IsZero()
	}
	want := map[string]bool{oldKID: true, newKID: false, a.SigningKeyID(): false}
	if diff := cmp.Diff(want, retired); diff != "" {
		t.Fatalf("retired keys (-want +got):\n%s", diff)
	}
	old2, _, err := a.Issue("u", "s", clk.Now(), "j3") // signed by the newest key
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, old2); err != nil {
		t.Fatal(err)
	}
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "u", "sid": "s", "use": "access",
		"iat": clk.Now().Unix(), "exp": clk.Now().Add(time.Minute).Unix(),
	})
	forged.Header["kid"] = oldKID
	s, err := forged.SignedString(storedKey(t, keys, oldKID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, s); err == nil {
		t.Fatal("a token signed by a retired key verified")
	}
}

func TestTokensUnknownKidReloadThrottled(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	keys := openStore(t)
	a := newTokens(t, keys, clk, nil)
	b := newTokens(t, keys, clk, nil)

	// b looks up an unknown kid (a forged one): that spends its reload.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"exp": clk.Now().Add(time.Minute).Unix()})
	forged.Header["kid"] = "ffffffffffffffff"
	fs, _ := forged.SignedString(otherPriv)
	if _, err := b.Verify(ctx, fs); err == nil {
		t.Fatal("forged token verified")
	}
	// a rotates right after: within the throttle window b cannot see it...
	if _, err := a.Rotate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := a.Issue("u", "s", clk.Now(), "j")
	if _, err := b.Verify(ctx, tok); err == nil {
		t.Fatal("reload was not throttled")
	}
	// ...and once the window passed it reloads and accepts.
	clk.Add(6 * time.Second)
	if _, err := b.Verify(ctx, tok); err != nil {
		t.Fatalf("after the throttle window: %v", err)
	}
}

func TestTokensKeyFile(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	keys := openStore(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	tk := newTokens(t, keys, clk, pemKey)
	if got, want := tk.SigningKeyID(), services.KeyID(pub); got != want {
		t.Fatalf("signing kid %s, want the file key %s", got, want)
	}
	stored, err := keys.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 0 {
		t.Fatalf("with a key file Init stored %d keys, want none", len(stored))
	}
	tok, _, err := tk.Issue("u", "s", clk.Now(), "j")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Rotate(ctx, 0); err == nil {
		t.Fatal("Rotate with a key file succeeded")
	}
	for _, cfg := range []services.TokenConfig{{Audience: testAudience}, {Issuer: testIssuer}} {
		if _, err := services.NewTokens(keys, clk.Now, cfg, nil); err == nil {
			t.Errorf("NewTokens(%+v) accepted a config without issuer or audience", cfg)
		}
	}

	_, rsaLike, _ := ed25519.GenerateKey(rand.Reader)
	for name, bad := range map[string][]byte{
		"not PEM":    []byte("hello"),
		"public key": publicPEM(t, pub),
		"truncated":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:10]}),
		"raw seed":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaLike.Seed()}),
	} {
		cfg := services.TokenConfig{Issuer: testIssuer, Audience: testAudience, KeyFile: bad}
		if _, err := services.NewTokens(keys, clk.Now, cfg, nil); err == nil {
			t.Errorf("%s: NewTokens accepted the key file", name)
		}
	}
}
