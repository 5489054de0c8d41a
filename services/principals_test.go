package services_test

import (
	"context"
	"testing"
	"time"

	"github.com/huizong/huizong/services"
)

// newCachedAuthEnv is newAuthEnv with the principal cache on, Auth
// writing through Accounts, as the server wires it.
func newCachedAuthEnv(t *testing.T) (*authEnv, *services.Accounts) {
	t.Helper()
	e := newAuthEnv(t)
	cache := services.NewPrincipalCache(time.Second, 100, e.clk.Now)
	accounts := services.NewAccounts(e.st, e.st, cache)
	e.auth = services.NewAuth(accounts, accounts, e.tokens, e.pw, services.NewAudit(e.st, e.clk.Now, nil), nil, nil, e.clk.Now,
		services.AuthConfig{Issuer: testIssuer, Audience: testAudience, AccessTTL: 15 * time.Minute,
			RefreshTTL: 30 * 24 * time.Hour, RefreshGrace: 30 * time.Second, Principals: cache}, nil)
	return e, accounts
}

// TestPrincipalCacheRevocation: with the cache on, every way of revoking
// an access token through this process takes effect on the very next
// request; a write made around the cache (another process) within its
// TTL.
func TestPrincipalCacheRevocation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		revoke func(t *testing.T, e *authEnv, a *services.Accounts, p services.Principal)
	}{
		{"logout", func(t *testing.T, e *authEnv, _ *services.Accounts, p services.Principal) {
			noErr(t, e.auth.Logout(ctx, p))
		}},
		{"session deleted by its owner", func(t *testing.T, e *authEnv, _ *services.Accounts, p services.Principal) {
			noErr(t, e.auth.RevokeSession(ctx, p, p.SessionID))
		}},
		{"password changed", func(t *testing.T, e *authEnv, _ *services.Accounts, p services.Principal) {
			e.clk.Add(time.Second) // a token of the same second stays valid by design
			noErr(t, e.auth.ChangePassword(ctx, p, teacherPassword, "another horse 2"))
		}},
		{"user disabled (as the users service does it)", func(t *testing.T, _ *authEnv, a *services.Accounts, p services.Principal) {
			u := p.User
			u.Disabled = true
			_, err := a.UpdateUser(ctx, services.ScopeAll(), u)
			noErr(t, err)
		}},
		{"all sessions revoked", func(t *testing.T, _ *authEnv, a *services.Accounts, p services.Principal) {
			noErr(t, a.RevokeUserSessions(ctx, p.User.ID, "", time.Now()))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, accounts := newCachedAuthEnv(t)
			pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
			p := e.principal(t, pair.AccessToken)
			e.principal(t, pair.AccessToken) // now cached
			tt.revoke(t, e, accounts, p)
			if _, err := e.auth.Authenticate(ctx, pair.AccessToken); err == nil {
				t.Fatal("the token still works on the next request")
			}
		})
	}

	t.Run("written by another process", func(t *testing.T) {
		e, _ := newCachedAuthEnv(t)
		pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
		p := e.principal(t, pair.AccessToken)
		u := p.User
		u.Disabled = true
		_, err := e.st.UpdateUser(ctx, services.ScopeAll(), u) // around the cache
		noErr(t, err)
		e.principal(t, pair.AccessToken) // cached: within the TTL
		e.clk.Add(1100 * time.Millisecond)
		if _, err := e.auth.Authenticate(ctx, pair.AccessToken); err == nil {
			t.Fatal("a user disabled by another process still works after the cache's TTL")
		}
	})
	t.Run("an expired token is not served from the cache", func(t *testing.T) {
		e, _ := newCachedAuthEnv(t)
		pair := e.login(t, "zhang.san", teacherPassword, "10.0.0.1")
		e.principal(t, pair.AccessToken)
		e.clk.Add(15*time.Minute + services.MaxTokenLeeway + time.Second)
		if _, err := e.auth.Authenticate(ctx, pair.AccessToken); err == nil {
			t.Fatal("an expired access token was accepted")
		}
	})
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
