package services_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/huizong/huizong/repository/sqlite"
	"github.com/huizong/huizong/services"
)

// cheapParams keep flow tests fast; the defaults are tested on their own.
var cheapParams = services.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const teacherPassword = "correct horse 1"

type authEnv struct {
	st      *sqlite.Store
	clk     *fakeClock
	pw      *services.Passwords
	tokens  *services.Tokens
	auth    *services.Auth
	teacher services.User
}

// newAuthEnv wires Auth over a real store with a teacher account
// zhang.san / 13800138000 and a disabled account li.si. Accounts may
// try 5 times at once and earn one try a minute; an IP 10, one every 6 s.
func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	e := &authEnv{st: openStore(t), clk: newClock(), pw: services.NewPasswords(cheapParams, 4)}
	e.tokens = newTokens(t, e.st, e.clk, nil)
	e.auth = services.NewAuth(e.st, e.st, e.tokens, e.pw, services.NewAudit(e.st, e.clk.Now, nil),
		services.NewLimiter(time.Minute, 5, 1000, e.clk.Now),
		services.NewLimiter(6*time.Second, 10, 1000, e.clk.Now),
		e.clk.Now,
		services.AuthConfig{Issuer: testIssuer, Audience: testAudience, AccessTTL: 15 * time.Minute,
			RefreshTTL: 30 * 24 * time.Hour, RefreshGrace: 30 * time.Second},
		nil)
	e.teacher = e.addUser(t, "zhang.san", "13800138000", teacherPassword, cheapParams, false)
	e.addUser(t, "li.si", "13900139000", teacherPassword, cheapParams, true)
	return e
}

func (e *authEnv) addUser(t *testing.T, username, mobile, password string, p services.PasswordParams, disabled bool) services.User {
	t.Helper()
	h, err := services.NewPasswords(p, 1).Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	u := services.User{
		ID: services.NewID(now), Username: username, Name: username, Mobile: mobile,
		Role: services.RoleTeacher, OrgID: "school1", OrgPath: []string{"city1", "district1", "school1"},
		PasswordHash: h, Disabled: disabled, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.st.CreateUsers(context.Background(), []services.User{u}); err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	return u
}

func (e *authEnv) login(t *testing.T, login, password, ip string) services.TokenPair {
	t.Helper()
	p, err := e.auth.Login(context.Background(), services.Credentials{
		Login: login, Password: password, Device: "iPhone", UserAgent: "huizong-ios/1.0", IP: ip,
	})
	if err != nil {
		t.Fatalf("Login(%q): %v", login, err)
	}
	return p
}

func (e *authEnv) principal(t *testing.T, access string) services.Principal {
	t.Helper()
	p, err := e.auth.Authenticate(context.Background(), access)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return p
}

func (e *authEnv) session(t *testing.T, id string) services.Session {
	t.Helper()
	s, err := e.st.Session(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// kindCode describes err the way a client sees it.
type kindCode struct {
	Kind services.Kind
	Code string
}

func describe(err error) kindCode {
	var e *services.Error
	if errors.As(err, &e) {
		return kindCode{e.Kind, e.Code}
	}
	return kindCode{services.KindOf(err), ""}
}

var (
	badCredentials = kindCode{services.KindUnauthorized, "invalid_credentials"}
	badToken       = kindCode{services.KindUnauthorized, "invalid_token"}
	limited        = kindCode{services.KindRateLimited, "rate_limited"}
)

func wantErr(t *testing.T, what string, err error, want kindCode) {
	t.Helper()
	if diff := cmp.Diff(want, describe(err)); diff != "" {
		t.Fatalf("%s: error %v (-want +got):\n%s", what, err, diff)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// accessLeft is the ExpiresIn of an access token issued at issued (iat
// has whole seconds), seen at now.
func accessLeft(issued, now time.Time) time.Duration {
	return issued.Truncate(time.Second).Add(15 * time.Minute).Sub(now).Truncate(time.Second)
}

var refreshShape = regexp.MustCompile(`^[0-9a-z]{26}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$`)

func TestLoginByUsernameAndMobile(t *testing.T) {
	e := newAuthEnv(t)
	for _, login := range []string{"zhang.san", "  Zhang.SAN ", "13800138000"} {
		t.Run(login, func(t *testing.T) {
			pair := e.login(t, login, teacherPassword, "10.0.0.1")
			if !refreshShape.MatchString(pair.RefreshToken) {
				t.Errorf("refresh token %q has the wrong shape", pair.RefreshToken)
			}
			if want := accessLeft(e.clk.Now(), e.clk.Now()); pair.ExpiresIn != want {
				t.Errorf("ExpiresIn = %v, want %v", pair.ExpiresIn, want)
			}
			p := e.principal(t, pair.AccessToken)
			if p.User.ID != e.teacher.ID {
				t.Fatalf("principal is %s, want %s", p.User.ID, e.teacher.ID)
			}
			// The district routes a sharded store; it narrows nothing.
			if got, want := p.Scope(), (services.Scope{OrgID: "school1", District: "district1"}); got != want {
				t.Errorf("Scope = %+v, want %+v", got, want)
			}
			s := e.session(t, p.SessionID)
			got := []string{s.UserID, s.Device, s.UserAgent, s.IP, s.CurrentHash}
			want := []string{e.teacher.ID, "iPhone", "huizong-ios/1.0", "10.0.0.1", sha(pair.RefreshToken)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("session (-want +got):\n%s", diff)
			}
			if pair.RefreshToken[:26] != s.ID {
				t.Errorf("refresh token does not start with the session id")
			}
		})
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newAuthEnv(t)
	tests := []struct {
		name, login, password string
	}{
		{"unknown user", "nobody", teacherPassword},
		{"wrong password", "zhang.san", "wrong horse 1"},
		{"wrong password by mobile", "13800138000", "wrong horse 1"},
		{"disabled user, right password", "li.si", teacherPassword},
		{"overlong password", "zhang.san", string(make([]byte, 5000))},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.auth.Login(context.Background(), services.Credentials{
				Login: tt.login, Password: tt.password, IP: fmt.Sprint("10.0.1.", i),
			})
			wantErr(t, "Login", err, badCredentials)
		})
	}
	_, err := e.auth.Login(context.Background(), services.Credentials{Login: " ", Password: ""})
	if got := services.KindOf(err); got != services.KindInvalid {
		t.Fatalf("empty credentials: kind %v, want KindInvalid", got)
	}
}

func TestLoginRateLimited(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)

	// Per (account, IP): 5 wrong passwords from one address throttle that
	// address, whichever login of the account it types (username or mobile).
	for i := range 5 {
		login := "zhang.san"
		if i%2 == 1 {
			login = "13800138000"
		}
		_, err := e.auth.Login(ctx, services.Credentials{Login: login, Password: "guess", IP: "10.1.0.1"})
		wantErr(t, "wrong password", err, badCredentials)
	}
	_, err := e.auth.Login(ctx, services.Credentials{Login: "ZHANG.SAN", Password: teacherPassword, IP: "10.1.0.1"})
	wantErr(t, "6th try from the same address, right password", err, limited)
	var se *services.Error
	if !errors.As(err, &se) || se.RetryAfter <= 0 || se.RetryAfter > time.Minute {
		t.Fatalf("RetryAfter = %v, want (0, 1m]", se.RetryAfter)
	}
	_, err = e.auth.Login(ctx, services.Credentials{Login: "13800138000", Password: teacherPassword, IP: "10.1.0.1"})
	wantErr(t, "the mobile number shares the budget", err, limited)
	// The owner, elsewhere, is not locked out by an attacker's failures.
	e.login(t, "zhang.san", teacherPassword, "10.2.0.1")
	// The limit is the same for an account that does not exist.
	for range 5 {
		_, err := e.auth.Login(ctx, services.Credentials{Login: "ghost", Password: "guess", IP: "10.1.1.1"})
		wantErr(t, "unknown user", err, badCredentials)
	}
	_, err = e.auth.Login(ctx, services.Credentials{Login: "ghost", Password: "guess", IP: "10.1.1.1"})
	wantErr(t, "unknown user, 6th try", err, limited)

	e.clk.Add(time.Minute)
	e.login(t, "zhang.san", teacherPassword, "10.1.0.1")

	// Guessing spread over many addresses meets the account-wide budget
	// (ten times the per-address one).
	e.clk.Add(time.Hour)
	for i := range 50 {
		_, err := e.auth.Login(ctx, services.Credentials{Login: "li.si", Password: "guess", IP: fmt.Sprint("10.5.", i/5, ".", i%5)})
		wantErr(t, "spread guessing", err, badCredentials)
	}
	_, err = e.auth.Login(ctx, services.Credentials{Login: "li.si", Password: "guess", IP: "10.5.99.1"})
	wantErr(t, "spread guessing over the account-wide budget", err, limited)

	// Per IP: 10 tries across accounts, then throttled even for a fresh
	// account.
	e.clk.Add(time.Hour)
	for i := range 10 {
		_, err := e.auth.Login(ctx, services.Credentials{Login: fmt.Sprint("user", i), Password: "guess", IP: "10.9.9.9"})
		wantErr(t, "spraying", err, badCredentials)
	}
	_, err = e.auth.Login(ctx, services.Credentials{Login: "zhang.san", Password: teacherPassword, IP: "10.9.9.9"})
	wantErr(t, "IP over its limit", err, limited)
	e.login(t, "zhang.san", teacherPassword, "10.9.9.10")
}

func TestLoginRehashesOldParams(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	old := services.PasswordParams{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	u := e.addUser(t, "wang.wu", "", "old params pw", old, false)
	e.login(t, "wang.wu", "old params pw", "10.0.0.1")
	got, err := e.st.User(ctx, services.ScopeAll(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := e.pw.Verify(ctx, got.PasswordHash, "old params pw")
	if err != nil || !ok || rehash {
		t.Fatalf("after login: Verify = %v, needsRehash %v, %v; want a current-params hash", ok, rehash, err)
	}
	e.login(t, "wang.wu", "old params pw", "10.0.0.1")
}

func TestRefreshRotates(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	sid := e.principal(t, pair.AccessToken).SessionID
	seen := map[string]bool{pair.RefreshToken: true, pair.AccessToken: true}
	for gen := int64(1); gen <= 3; gen++ {
		e.clk.Add(10 * 24 * time.Hour) // each refresh extends the session
		next, err := e.auth.Refresh(ctx, pair.RefreshToken, "10.0.0.2")
		if err != nil {
			t.Fatalf("refresh %d: %v", gen, err)
		}
		if seen[next.RefreshToken] || seen[next.AccessToken] {
			t.Fatalf("refresh %d returned a token seen before", gen)
		}
		seen[next.RefreshToken], seen[next.AccessToken] = true, true
		if !refreshShape.MatchString(next.RefreshToken) || next.RefreshToken[:26] != sid {
			t.Fatalf("refresh token %q", next.RefreshToken)
		}
		if p := e.principal(t, next.AccessToken); p.SessionID != sid || p.User.ID != e.teacher.ID {
			t.Fatalf("new access token is for %+v", p)
		}
		s := e.session(t, sid)
		type view struct {
			Gen               int64
			Current, Prev, IP string
			Expires           time.Time
		}
		want := view{gen, sha(next.RefreshToken), sha(pair.RefreshToken), "10.0.0.2", e.clk.Now().Add(30 * 24 * time.Hour).Truncate(time.Millisecond)}
		got := view{s.Generation, s.CurrentHash, s.PrevHash, s.IP, s.ExpiresAt.UTC()}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("session after refresh %d (-want +got):\n%s", gen, diff)
		}
		pair = next
	}

	// Without refreshing the session dies after RefreshTTL.
	e.clk.Add(31 * 24 * time.Hour)
	_, err := e.auth.Refresh(ctx, pair.RefreshToken, "10.0.0.2")
	wantErr(t, "expired session", err, badToken)
}

func TestRefreshRetryWithinGrace(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	r0 := e.login(t, "zhang.san", teacherPassword, "10.0.0.1").RefreshToken
	first, err := e.auth.Refresh(ctx, r0, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	issued := e.clk.Now()
	e.clk.Add(20 * time.Second) // the phone lost the answer and retries
	retry, err := e.auth.Refresh(ctx, r0, "10.0.0.1")
	if err != nil {
		t.Fatalf("retry within grace: %v", err)
	}
	if diff := cmp.Diff(first.RefreshToken, retry.RefreshToken); diff != "" {
		t.Errorf("retry refresh token differs:\n%s", diff)
	}
	if diff := cmp.Diff(first.AccessToken, retry.AccessToken); diff != "" {
		t.Errorf("retry access token differs:\n%s", diff)
	}
	if retry.ExpiresIn != accessLeft(issued, e.clk.Now()) {
		t.Errorf("retry ExpiresIn = %v, want what is left of the access token", retry.ExpiresIn)
	}
	// Even across a key rotation (here, or by another instance) the retry
	// gets the same pair.
	if _, err := e.tokens.Rotate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(5 * time.Second)
	again, err := e.auth.Refresh(ctx, r0, "10.0.0.1")
	if err != nil {
		t.Fatalf("retry after a key rotation: %v", err)
	}
	if again.RefreshToken != first.RefreshToken || again.AccessToken != first.AccessToken {
		t.Error("retry after a key rotation got another pair")
	}
	// The session is intact and the new token carries on.
	if _, err := e.auth.Refresh(ctx, first.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatalf("refresh with the new token after a retry: %v", err)
	}
}

func TestRefreshOlderTokenRevokes(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	r0 := e.login(t, "zhang.san", teacherPassword, "10.0.0.1").RefreshToken
	sid := r0[:26]
	r1, err := e.auth.Refresh(ctx, r0, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Refresh(ctx, r1.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// r0 is two generations old: even within the grace window of the last
	// rotation it is no retry.
	_, err = e.auth.Refresh(ctx, r0, "10.6.6.6")
	wantErr(t, "two generations old", err, badToken)
	if s := e.session(t, sid); s.RevokedAt.IsZero() {
		t.Fatal("session not revoked")
	}
}

// TestLoginTimingUnknownVsWrongPassword checks that an unknown login and a
// wrong password cost about the same: both run one argon2id verification.
func TestLoginTimingUnknownVsWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	ctx := context.Background()
	clk := newClock()
	st := openStore(t)
	params := services.PasswordParams{Memory: 8192, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	pw := services.NewPasswords(params, 1)
	auth := services.NewAuth(st, st, newTokens(t, st, clk, nil), pw, nil, nil, nil, clk.Now,
		services.AuthConfig{Issuer: testIssuer, Audience: testAudience}, nil)
	e := &authEnv{st: st, clk: clk}
	e.addUser(t, "zhang.san", "", teacherPassword, params, false)

	median := func(login string) time.Duration {
		t.Helper()
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			_, err := auth.Login(ctx, services.Credentials{Login: login, Password: "wrong horse 1"})
			ds = append(ds, time.Since(start))
			wantErr(t, login, err, badCredentials)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	unknown, wrong := median("nobody"), median("zhang.san")
	if ratio := float64(unknown) / float64(wrong); ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown user %v, wrong password %v: distinguishable by time", unknown, wrong)
	}
}

func TestRefreshReuseRevokesSession(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	login := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	sid := e.principal(t, login.AccessToken).SessionID
	first, err := e.auth.Refresh(ctx, login.RefreshToken, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(31 * time.Second)
	_, err = e.auth.Refresh(ctx, login.RefreshToken, "10.6.6.6") // a thief's copy
	wantErr(t, "reuse after grace", err, badToken)

	if s := e.session(t, sid); s.RevokedAt.IsZero() {
		t.Fatal("session not revoked after refresh token reuse")
	}
	_, err = e.auth.Refresh(ctx, first.RefreshToken, "10.0.0.1")
	wantErr(t, "the legitimate new token after reuse", err, badToken)
	_, err = e.auth.Authenticate(ctx, first.AccessToken)
	wantErr(t, "access token of the revoked session", err, badToken)
}

func TestForgedRefreshDoesNotRevoke(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	login := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	sid := e.principal(t, login.AccessToken).SessionID
	secret := strings.Repeat("A", 43)
	tests := []struct{ name, token string }{
		{"the session id with an invented secret and tag", sid + "." + secret + "." + strings.Repeat("B", 22)},
		{"the real secret with an invented tag", login.RefreshToken[:len(login.RefreshToken)-22] + strings.Repeat("C", 22)},
		{"the old shape without a tag", sid + "." + secret},
	}
	e.clk.Add(time.Minute)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.auth.Refresh(ctx, tt.token, "10.6.6.6")
			wantErr(t, "forged refresh", err, badToken)
			if s := e.session(t, sid); !s.RevokedAt.IsZero() {
				t.Fatal("a forged refresh token signed the owner out")
			}
		})
	}
	// The owner's real token still works.
	if _, err := e.auth.Refresh(ctx, login.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatalf("the real token after forgeries: %v", err)
	}
}

func TestRefreshConcurrentRetries(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	login := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	sid := e.principal(t, login.AccessToken).SessionID

	const n = 8
	pairs := make([]services.TokenPair, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			pairs[i], errs[i] = e.auth.Refresh(ctx, login.RefreshToken, "10.0.0.1")
		})
	}
	close(start)
	wg.Wait()

	var winner *services.TokenPair
	for i := range n {
		if errs[i] != nil {
			wantErr(t, "concurrent retry", errs[i], badToken)
			continue
		}
		if winner == nil {
			winner = &pairs[i]
			continue
		}
		if diff := cmp.Diff(winner.RefreshToken+" "+winner.AccessToken, pairs[i].RefreshToken+" "+pairs[i].AccessToken); diff != "" {
			t.Errorf("retry %d got another pair:\n%s", i, diff)
		}
	}
	if winner == nil {
		t.Fatalf("every concurrent refresh failed: %v", errs)
	}
	s := e.session(t, sid)
	if !s.RevokedAt.IsZero() || s.Generation != 1 || s.CurrentHash != sha(winner.RefreshToken) || s.PrevHash != sha(login.RefreshToken) {
		t.Fatalf("session after concurrent retries: revoked %v gen %d current ok %v prev ok %v",
			s.RevokedAt, s.Generation, s.CurrentHash == sha(winner.RefreshToken), s.PrevHash == sha(login.RefreshToken))
	}
	if _, err := e.auth.Refresh(ctx, winner.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatalf("the returned token does not refresh: %v", err)
	}
}

func TestRefreshRejectsMalformed(t *testing.T) {
	e := newAuthEnv(t)
	pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	sid := pair.RefreshToken[:26]
	for _, tok := range []string{
		"",
		"abc",
		pair.AccessToken,
		sid,
		sid + ".",
		sid + ".!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"00000000000000000000000000" + pair.RefreshToken[26:], // no such session
		pair.RefreshToken + "x",
	} {
		_, err := e.auth.Refresh(context.Background(), tok, "10.0.0.1")
		wantErr(t, fmt.Sprintf("Refresh(%.40q)", tok), err, badToken)
	}
	if _, err := e.auth.Refresh(context.Background(), pair.RefreshToken, "10.0.0.1"); err != nil {
		t.Fatalf("malformed tokens harmed the session: %v", err)
	}
}

func TestLogoutThenRefresh(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	p := e.principal(t, pair.AccessToken)
	if err := e.auth.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err := e.auth.Refresh(ctx, pair.RefreshToken, "10.0.0.1")
	wantErr(t, "refresh after logout", err, badToken)
	_, err = e.auth.Authenticate(ctx, pair.AccessToken)
	wantErr(t, "access after logout", err, badToken)
}

func TestDisabledUserLosesAccess(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	u, err := e.st.User(ctx, services.ScopeAll(), e.teacher.ID)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if _, err := e.st.UpdateUser(ctx, services.ScopeAll(), u); err != nil {
		t.Fatal(err)
	}
	_, err = e.auth.Authenticate(ctx, pair.AccessToken)
	wantErr(t, "access of a disabled user", err, badToken)
	_, err = e.auth.Refresh(ctx, pair.RefreshToken, "10.0.0.1")
	wantErr(t, "refresh of a disabled user", err, badToken)
}

func TestSessionsAndRevokeSession(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	other := e.addUser(t, "zhao.liu", "", "another pw 1", cheapParams, false)
	a := e.principal(t, e.login(t, "zhang.san", teacherPassword, "10.0.0.1").AccessToken)
	e.clk.Add(time.Second)
	bPair := e.login(t, "zhang.san", teacherPassword, "10.0.0.2")
	b := e.principal(t, bPair.AccessToken)
	o := e.principal(t, e.login(t, "zhao.liu", "another pw 1", "10.0.0.3").AccessToken)
	if o.User.ID != other.ID {
		t.Fatal("wrong principal")
	}

	ids := func(p services.Principal) []string {
		t.Helper()
		ss, err := e.auth.Sessions(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	if diff := cmp.Diff([]string{b.SessionID, a.SessionID}, ids(a)); diff != "" {
		t.Fatalf("sessions, newest first (-want +got):\n%s", diff)
	}
	err := e.auth.RevokeSession(ctx, o, a.SessionID)
	if !errors.Is(err, services.ErrNotFound) {
		t.Fatalf("revoking another user's session: %v, want ErrNotFound", err)
	}
	if err := e.auth.RevokeSession(ctx, a, "00000000000000000000000000"); !errors.Is(err, services.ErrNotFound) {
		t.Fatalf("revoking a missing session: %v, want ErrNotFound", err)
	}
	if err := e.auth.RevokeSession(ctx, a, b.SessionID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a.SessionID}, ids(a)); diff != "" {
		t.Fatalf("sessions after revoking one (-want +got):\n%s", diff)
	}
	_, err = e.auth.Refresh(ctx, bPair.RefreshToken, "10.0.0.2")
	wantErr(t, "refresh of a revoked session", err, badToken)
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	aPair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
	bPair := e.login(t, "zhang.san", teacherPassword, "10.0.0.2")
	a := e.principal(t, aPair.AccessToken)

	for _, tt := range []struct {
		name, old, new string
		field, code    string
	}{
		{"wrong old password", "not it at all", "brand new pw 2", "current_password", "incorrect"},
		{"weak new password", teacherPassword, "1234567890", "new_password", "all_digits"},
		{"short new password", teacherPassword, "abc", "new_password", "min_length"},
		{"unchanged", teacherPassword, teacherPassword, "new_password", "unchanged"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := e.auth.ChangePassword(ctx, a, tt.old, tt.new)
			var se *services.Error
			if !errors.As(err, &se) || se.Kind != services.KindInvalid || len(se.Fields) != 1 {
				t.Fatalf("err = %v, want one KindInvalid field", err)
			}
			got := [2]string{se.Fields[0].Field, se.Fields[0].Code}
			if want := [2]string{tt.field, tt.code}; got != want {
				t.Fatalf("field error %v, want %v", got, want)
			}
		})
	}

	e.clk.Add(2 * time.Second)
	if err := e.auth.ChangePassword(ctx, a, teacherPassword, "brand new pw 2"); err != nil {
		t.Fatal(err)
	}
	_, err := e.auth.Refresh(ctx, bPair.RefreshToken, "10.0.0.2")
	wantErr(t, "other session's refresh", err, badToken)
	_, err = e.auth.Authenticate(ctx, bPair.AccessToken)
	wantErr(t, "other session's access", err, badToken)
	// The caller's own older access token predates the change; its session
	// lives on and a refresh gives it a fresh one.
	_, err = e.auth.Authenticate(ctx, aPair.AccessToken)
	wantErr(t, "access token issued before the change", err, badToken)
	fresh, err := e.auth.Refresh(ctx, aPair.RefreshToken, "10.0.0.1")
	if err != nil {
		t.Fatalf("own session refresh: %v", err)
	}
	e.principal(t, fresh.AccessToken)

	e.clk.Add(time.Hour) // refill the account's sign-in budget
	_, err = e.auth.Login(ctx, services.Credentials{Login: "zhang.san", Password: teacherPassword, IP: "10.0.0.1"})
	wantErr(t, "old password", err, badCredentials)
	e.login(t, "zhang.san", "brand new pw 2", "10.0.0.1")
}

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := openStore(t)
	auth := services.NewAuth(st, st, newTokens(t, st, clk, nil), services.NewPasswords(cheapParams, 4),
		nil, nil, nil, clk.Now, services.AuthConfig{Issuer: testIssuer, Audience: testAudience}, nil)

	// Instances starting together: exactly one creates the account.
	type result struct {
		generated string
		created   bool
	}
	results := make([]result, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			g, c, err := auth.EnsureAdmin(ctx, "")
			if err != nil {
				t.Errorf("EnsureAdmin: %v", err)
			}
			results[i] = result{g, c}
		})
	}
	wg.Wait()
	var generated string
	created := 0
	for _, r := range results {
		if r.created {
			created++
			generated = r.generated
		} else if r.generated != "" {
			t.Errorf("not created, yet a password was returned")
		}
	}
	if created != 1 || len(generated) < 20 {
		t.Fatalf("created %d times, generated %q; want once with a strong password", created, generated)
	}
	if n, err := st.CountUsers(ctx, services.ScopeAll(), services.UserQuery{}); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v; want 1", n, err)
	}

	pair, err := auth.Login(ctx, services.Credentials{Login: "admin", Password: generated})
	if err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	p, err := auth.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.Role != services.RoleSysadmin || p.Scope() != services.ScopeAll() || !p.User.MustChangePassword || p.User.OrgID != "" {
		t.Fatalf("admin = %+v, scope %+v", p.User, p.Scope())
	}

	g, c, err := auth.EnsureAdmin(ctx, "")
	if err != nil || c || g != "" {
		t.Fatalf("second EnsureAdmin = %q, %v, %v; want nothing done", g, c, err)
	}

	// With a chosen password on an empty store.
	st2 := openStore(t)
	auth2 := services.NewAuth(st2, st2, newTokens(t, st2, clk, nil), services.NewPasswords(cheapParams, 4),
		nil, nil, nil, clk.Now, services.AuthConfig{Issuer: testIssuer, Audience: testAudience}, nil)
	if _, _, err := auth2.EnsureAdmin(ctx, "short"); services.KindOf(err) != services.KindInvalid {
		t.Fatalf("weak admin password: %v, want KindInvalid", err)
	}
	g, c, err = auth2.EnsureAdmin(ctx, "chosen admin pw")
	if err != nil || !c || g != "" {
		t.Fatalf("EnsureAdmin(chosen) = %q, %v, %v", g, c, err)
	}
	if _, err := auth2.Login(ctx, services.Credentials{Login: "ADMIN", Password: "chosen admin pw"}); err != nil {
		t.Fatal(err)
	}
}

// TestSignInsAudited: every sign-in and every refused one is in the audit
// log with what was typed, the address and the reason, and the failures
// of a known account belong to its unit.
func TestSignInsAudited(t *testing.T) {
	e := newAuthEnv(t)
	ctx := context.Background()
	try := func(login, password string) {
		t.Helper()
		_, err := e.auth.Login(ctx, services.Credentials{Login: login, Password: password, UserAgent: "ua/1", IP: "198.51.100.7"})
		if services.KindOf(err) != services.KindUnauthorized {
			t.Fatalf("Login(%q) = %v, want refused", login, err)
		}
	}
	try("nobody", "whatever-1")
	try("zhang.san", "wrong horse 1")
	try("13900139000", teacherPassword) // li.si, disabled, by mobile
	try("zhang.san", strings.Repeat("x", 2000))
	e.login(t, " Zhang.San ", teacherPassword, "198.51.100.8")

	events, err := e.st.AuditEvents(ctx, services.ScopeAll(), services.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Kind                   services.AuditKind
		Login, IP, Detail, Org string
		Actor                  string
	}
	var got []row
	for _, ev := range events {
		r := row{Kind: ev.Kind, Login: ev.Login, IP: ev.IP, Detail: ev.Detail, Actor: ev.ActorName}
		if len(ev.OrgPath) > 0 {
			r.Org = ev.OrgPath[len(ev.OrgPath)-1]
		}
		got = append(got, r)
	}
	want := []row{
		{services.AuditLogin, "zhang.san", "198.51.100.8", "iPhone", "school1", "zhang.san"},
		{services.AuditLoginFailed, "zhang.san", "198.51.100.7", "password_too_long", "school1", ""},
		{services.AuditLoginFailed, "13900139000", "198.51.100.7", "account_disabled", "school1", ""},
		{services.AuditLoginFailed, "zhang.san", "198.51.100.7", "wrong_password", "school1", ""},
		{services.AuditLoginFailed, "nobody", "198.51.100.7", "unknown_login", "", ""},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("audit events (-want +got):\n%s", d)
	}
	if inSchool, _ := e.st.AuditEvents(ctx, services.ScopeOrg("district1"), services.AuditQuery{}); len(inSchool) != 4 {
		t.Errorf("district reads %d events, want the 4 of its accounts", len(inSchool))
	}
}
