package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestLoginRefreshRotationLogout(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()

	// Sign in by mobile number as well as by username.
	byMobile := s.login("13900000007", userPassword)
	var me struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Role     string `json:"role"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: byMobile.AccessToken}).decode(t, &me)
	if me.ID != w.users["teacherA1"] || me.Role != "teacher" {
		t.Fatalf("me = %+v, want teacherA1", me)
	}
	if byMobile.TokenType != "Bearer" || byMobile.ExpiresIn < 800 || byMobile.ExpiresIn > 900 {
		t.Errorf("token pair shape: %+v", byMobile)
	}

	// Rotation: each refresh gives a new refresh token.
	first := s.login("teachera1", userPassword)
	var second tokenPair
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": first.RefreshToken}}).decode(t, &second)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatal("refresh did not rotate the refresh token")
	}
	// A retry inside the grace window (the phone lost the answer) gets the same pair.
	var retry tokenPair
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": first.RefreshToken}}).decode(t, &retry)
	if retry != second {
		t.Errorf("retry within grace: got a different pair")
	}
	// After the grace window the old token is theft: the whole session goes.
	s.clock.Advance(2 * time.Minute)
	p := s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": first.RefreshToken}}).problem(t)
	if p.Code == "" {
		t.Errorf("problem without code: %+v", p)
	}
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": second.RefreshToken}})
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: second.AccessToken})

	// Logout ends the session: its refresh token and access token stop working.
	third := s.login("teachera1", userPassword)
	s.must(http.StatusNoContent, req{method: "POST", path: "/api/v1/auth/logout", token: third.AccessToken})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": third.RefreshToken}})
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: third.AccessToken})
}

func TestConcurrentRefreshRetries(t *testing.T) {
	s := newTestServer(t, nil)
	s.seed()
	tp := s.login("teachera1", userPassword)
	var wg sync.WaitGroup
	results := make([]response, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.do(req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tp.RefreshToken}})
		}()
	}
	wg.Wait()
	var pairs = map[string]bool{}
	for _, r := range results {
		if r.status != http.StatusOK {
			t.Fatalf("concurrent retry: status %d %s", r.status, r.body)
		}
		var p tokenPair
		r.decode(t, &p)
		pairs[p.RefreshToken] = true
	}
	if len(pairs) != 1 {
		t.Errorf("8 retries of one refresh gave %d different pairs, want 1", len(pairs))
	}
}

func TestSessionsAndLostPhone(t *testing.T) {
	s := newTestServer(t, nil)
	s.seed()
	phone := s.login("teachera1", userPassword)
	laptop := s.login("teachera1", userPassword)
	var list struct {
		Items []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me/sessions", token: laptop.AccessToken}).decode(t, &list)
	if len(list.Items) < 2 {
		t.Fatalf("sessions: got %d, want at least 2", len(list.Items))
	}
	var phoneSession string
	var me struct {
		SessionID string `json:"session_id"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: phone.AccessToken}).decode(t, &me)
	phoneSession = me.SessionID
	s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/me/sessions/" + phoneSession, token: laptop.AccessToken})
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: phone.AccessToken})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": phone.RefreshToken}})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: laptop.AccessToken})

	// Another user's session id is not found.
	other := s.login("teacherb1", userPassword)
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: other.AccessToken}).decode(t, &me)
	s.must(http.StatusNotFound, req{method: "DELETE", path: "/api/v1/me/sessions/" + me.SessionID, token: laptop.AccessToken})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: other.AccessToken})
}

func TestPasswordChangeRevokesOtherSessions(t *testing.T) {
	s := newTestServer(t, nil)
	s.seed()
	a := s.login("teachera1", userPassword)
	b := s.login("teachera1", userPassword)
	p := s.must(http.StatusUnprocessableEntity, req{method: "PUT", path: "/api/v1/me/password", token: a.AccessToken,
		body: map[string]string{"current_password": "wrong-password", "new_password": "New-pass-2026"}}).problem(t)
	if !p.hasField("current_password") {
		t.Errorf("wrong current password: %+v", p)
	}
	s.must(http.StatusNoContent, req{method: "PUT", path: "/api/v1/me/password", token: a.AccessToken,
		body: map[string]string{"current_password": userPassword, "new_password": "New-pass-2026"}})
	// The changing device keeps its session: one refresh and it goes on.
	var a2 tokenPair
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": a.RefreshToken}}).decode(t, &a2)
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: a2.AccessToken})
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: b.AccessToken})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": b.RefreshToken}})
	s.clock.Advance(2 * time.Minute) // past the per-account sign-in budget
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "teachera1", "password": userPassword}})
	s.login("teachera1", "New-pass-2026")
}

func TestBadTokensAre401(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	good := w.tokens["teacherA1"]
	parts := strings.Split(good, ".")
	var header map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &header)
	var claims jwt.MapClaims
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(cb, &claims)

	with := func(mutate func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		mutate(c)
		return c
	}
	_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
	signEd := func(c jwt.MapClaims, kid any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(strangerKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, c)
		tok.Header["kid"] = header["kid"]
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := func(c jwt.MapClaims, secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = header["kid"]
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tamperedClaims, _ := json.Marshal(with(func(c jwt.MapClaims) { c["sub"] = w.users["principalA1"] }))
	tests := []struct {
		name, token string
	}{
		{"alg none", none(claims)},
		{"HS256 keyed with the kid (HS/RS confusion)", hs(claims, []byte(header["kid"].(string)))},
		{"HS256 keyed with an empty secret", hs(claims, []byte{})},
		{"stranger's key, our kid", signEd(claims, header["kid"])},
		{"unknown kid", signEd(claims, "no-such-key")},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedClaims) + "." + parts[2]},
		{"bad signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"garbage", "not-a-jwt"},
		{"huge", strings.Repeat("a", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p := s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: tt.token}).problem(t)
			if p.Status != http.StatusUnauthorized {
				t.Errorf("problem status %d", p.Status)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		tok := s.login("teachera1", userPassword).AccessToken
		s.clock.Advance(16*time.Minute + 61*time.Second)
		s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: tok})
	})
	t.Run("wrong audience or issuer, same key", func(t *testing.T) {
		keyFile := filepath.Join(t.TempDir(), "signing.pem")
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		ours := newTestServer(t, map[string]string{"HUIZONG_SIGNING_KEY_FILE": keyFile})
		ok := ours.adminToken()
		ours.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: ok})
		for _, env := range []map[string]string{
			{"HUIZONG_TOKEN_AUDIENCE": "another-api"},
			{"HUIZONG_TOKEN_ISSUER": "another-issuer"},
		} {
			// Same key, same database, same users: only the claim differs.
			env["HUIZONG_SIGNING_KEY_FILE"], env["HUIZONG_DATA_DIR"] = keyFile, ours.dir
			env["HUIZONG_MONGODB_DATABASE"] = ours.cfg.MongoDB.Database
			other := newTestServer(t, env)
			tok := other.adminToken()
			other.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: tok})
			ours.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: tok})
		}
	})
	t.Run("no bearer", func(t *testing.T) {
		s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me"})
		s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}})
	})
	t.Run("refresh token is not an access token", func(t *testing.T) {
		tp := s.login("teachera1", userPassword)
		s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: tp.RefreshToken})
	})
}

func TestLoginThrottledAndUniform(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_LOGIN_PER_ACCOUNT": "5", "HUIZONG_LOGIN_PER_IP": "1000"})
	s.seed()
	wrongUser := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "nobody", "password": "whatever-pass"}})
	wrongPass := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "teachera1b", "password": "whatever-pass"}})
	if wrongUser.status != http.StatusUnauthorized || wrongPass.status != http.StatusUnauthorized {
		t.Fatalf("statuses %d %d, want 401", wrongUser.status, wrongPass.status)
	}
	pu, pp := wrongUser.problem(t), wrongPass.problem(t)
	pu.RequestID, pp.RequestID = "", ""
	if !reflect.DeepEqual(pu, pp) {
		t.Errorf("unknown user and wrong password differ:\n%+v\n%+v", pu, pp)
	}
	// Spoofed X-Forwarded-For from an untrusted peer changes nothing.
	var last response
	for i := range 10 {
		last = s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "teachera1", "password": "wrong-pass-1"},
			header: map[string]string{"X-Forwarded-For": "10.0.0." + string(rune('1'+i))}})
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("10 wrong passwords: last status %d (Retry-After %q), want 429", last.status, last.header.Get("Retry-After"))
	}
	if p := last.problem(t); p.Code != "rate_limited" {
		t.Errorf("code %q", p.Code)
	}
	// Even the right password waits out the throttle.
	s.must(http.StatusTooManyRequests, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "teachera1", "password": userPassword}})
	s.clock.Advance(2 * time.Minute)
	s.login("teachera1", userPassword)
}

func TestLoginThrottledPerIP(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_LOGIN_PER_ACCOUNT": "100", "HUIZONG_LOGIN_PER_IP": "5"})
	var last response
	for i := range 8 {
		last = s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "user" + string(rune('a'+i)), "password": "wrong-pass-1"}})
	}
	if last.status != http.StatusTooManyRequests {
		t.Fatalf("8 logins from one IP for 8 accounts: last status %d, want 429", last.status)
	}
}

// TestSigningKeyRotation: after a rotation new tokens carry the new kid
// and tokens signed before it stay valid, so nobody is signed out.
func TestSigningKeyRotation(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	kid := func(tok string) string {
		h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var hd struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		}
		_ = json.Unmarshal(h, &hd)
		if hd.Alg != "EdDSA" {
			t.Errorf("alg %q", hd.Alg)
		}
		return hd.Kid
	}
	before := w.tokens["teacherA1"]
	s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/admin/signing-keys:rotate", token: w.tokens["adminA"]})
	s.must(http.StatusNoContent, req{method: "POST", path: "/api/v1/admin/signing-keys:rotate", token: w.admin})
	after := s.login("teachera1", userPassword).AccessToken
	if kid(before) == kid(after) {
		t.Errorf("kid unchanged after rotation: %s", kid(after))
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: before})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: after})
	// A restart keeps both keys.
	s.restart()
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: before})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/me", token: after})
}

// TestDisablingSignsOut: a disabled account loses its sessions at once
// and cannot sign in; enabling it again lets it back.
func TestDisablingSignsOut(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	tp := s.login("teachera1", userPassword)
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users/" + w.users["teacherA1"], token: w.tokens["principalA1"]})
	r = s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/users/" + w.users["teacherA1"], token: w.tokens["principalA1"],
		header: map[string]string{"If-Match": r.header.Get("ETag")}, body: map[string]any{"disabled": true}})
	s.must(http.StatusUnauthorized, req{method: "GET", path: "/api/v1/me", token: tp.AccessToken})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tp.RefreshToken}})
	s.must(http.StatusUnauthorized, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "teachera1", "password": userPassword}})
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/users/" + w.users["teacherA1"], token: w.tokens["principalA1"],
		header: map[string]string{"If-Match": r.header.Get("ETag")}, body: map[string]any{"disabled": false}})
	s.login("teachera1", userPassword)
	// A principal cannot disable themselves or promote a teacher.
	me := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users/" + w.users["principalA1"], token: w.tokens["principalA1"]})
	s.must(http.StatusForbidden, req{method: "PATCH", path: "/api/v1/users/" + w.users["principalA1"], token: w.tokens["principalA1"],
		header: map[string]string{"If-Match": me.header.Get("ETag")}, body: map[string]any{"disabled": true}})
	teacher := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/users/" + w.users["teacherA1b"], token: w.tokens["principalA1"]})
	p := s.must(http.StatusUnprocessableEntity, req{method: "PATCH", path: "/api/v1/users/" + w.users["teacherA1b"], token: w.tokens["principalA1"],
		header: map[string]string{"If-Match": teacher.header.Get("ETag")}, body: map[string]any{"role": "principal"}}).problem(t)
	if !p.hasField("role") {
		t.Errorf("promotion: %+v", p)
	}
}

// TestTrustedProxyGivesClientIP: behind a configured proxy, each client's
// own address (from X-Forwarded-For) has its own sign-in budget.
func TestTrustedProxyGivesClientIP(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_LOGIN_PER_ACCOUNT": "100", "HUIZONG_LOGIN_PER_IP": "3", "HUIZONG_TRUSTED_PROXIES": "127.0.0.1"})
	for i := range 8 {
		r := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "nobody", "password": "wrong-pass-1"},
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)}})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("client %d behind the proxy: status %d, want 401", i, r.status)
		}
	}
	var last response
	for range 5 {
		last = s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "nobody", "password": "wrong-pass-1"},
			header: map[string]string{"X-Forwarded-For": "203.0.113.99"}})
	}
	if last.status != http.StatusTooManyRequests {
		t.Errorf("one client, 5 attempts: status %d, want 429", last.status)
	}
}
