package services

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cheapParams keep tests fast where the cost is not the point (the race
// detector makes 19 MiB hashes slow).
var cheapParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultPasswordParams(t *testing.T) {
	got := DefaultPasswordParams()
	want := PasswordParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}

	pw := NewPasswords(PasswordParams{}, 1)
	if diff := cmp.Diff(want, pw.Params()); diff != "" {
		t.Fatalf("zero params are not the defaults (-want +got):\n%s", diff)
	}
	h, err := pw.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// 16 bytes -> 22 characters, 32 bytes -> 43, raw std base64.
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h) {
		t.Fatalf("hash %q is not the PHC argon2id format", h)
	}
	ok, rehash, err := pw.Verify(context.Background(), h, "correct horse")
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestPasswordsVerify(t *testing.T) {
	ctx := context.Background()
	pw := NewPasswords(cheapParams, 2)
	h, err := pw.Hash(ctx, "s3cret-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := pw.Hash(ctx, "s3cret-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	stronger := NewPasswords(PasswordParams{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)

	tests := []struct {
		name       string
		p          *Passwords
		hash, pw   string
		ok, rehash bool
		wantErr    bool
	}{
		{"right password", pw, h, "s3cret-passphrase", true, false, false},
		{"wrong password", pw, h, "s3cret-passphrasf", false, false, false},
		{"empty password", pw, h, "", false, false, false},
		{"params changed", stronger, h, "s3cret-passphrase", true, true, false},
		{"params changed, wrong password", stronger, h, "nope", false, true, false},
		{"not PHC", pw, "plaintext", "plaintext", false, false, true},
		{"bcrypt", pw, "$2a$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "x", false, false, true},
		{"argon2i", pw, strings.Replace(h, "argon2id", "argon2i", 1), "s3cret-passphrase", false, false, true},
		{"other version", pw, strings.Replace(h, "v=19", "v=16", 1), "s3cret-passphrase", false, false, true},
		{"huge memory", pw, strings.Replace(h, "m=64", "m=4000000000", 1), "s3cret-passphrase", false, false, true},
		{"params out of order", pw, strings.Replace(h, "m=64,t=1", "t=1,m=64", 1), "s3cret-passphrase", false, false, true},
		{"truncated key", pw, h[:len(h)-30], "s3cret-passphrase", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := tt.p.Verify(ctx, tt.hash, tt.pw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if ok != tt.ok || rehash != tt.rehash {
				t.Fatalf("Verify = ok %v rehash %v, want ok %v rehash %v", ok, rehash, tt.ok, tt.rehash)
			}
		})
	}

	if err := pw.VerifyDummy(ctx, "anything"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
}

func TestPasswordsBoundedConcurrency(t *testing.T) {
	const limit = 2
	pw := NewPasswords(cheapParams, limit)
	// Occupy every slot: a further hash must wait, and give up with ctx.
	for range limit {
		pw.sem <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := pw.Hash(ctx, "password1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with all slots busy: err = %v, want DeadlineExceeded", err)
	}
	if _, _, err := pw.Verify(ctx, pw.dummy, "password1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify with all slots busy: err = %v, want DeadlineExceeded", err)
	}

	// Free one slot while a hash waits: it proceeds.
	done := make(chan error, 1)
	go func() {
		_, err := pw.Hash(context.Background(), "password1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Hash finished (%v) while every slot was taken", err)
	case <-time.After(50 * time.Millisecond):
	}
	<-pw.sem
	if err := <-done; err != nil {
		t.Fatalf("Hash after a slot freed: %v", err)
	}
	<-pw.sem

	// Many at once all succeed and leave every slot free.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			h, err := pw.Hash(context.Background(), "password1")
			if err == nil {
				_, _, err = pw.Verify(context.Background(), h, "password1")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(pw.sem); n != 0 {
		t.Fatalf("%d slots still held after all hashes returned", n)
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		pw   string
		want []FieldError
	}{
		{"", []FieldError{{Field: "password", Code: "required"}}},
		{"short1", []FieldError{{Field: "password", Code: "min_length", Args: map[string]any{"min": 8}}}},
		{"12345678901", []FieldError{{Field: "password", Code: "all_digits"}}},
		{"          ", []FieldError{{Field: "password", Code: "blank"}}},
		{strings.Repeat("a", 129), []FieldError{{Field: "password", Code: "max_length", Args: map[string]any{"max": 128}}}},
		{"abc\xffdefgh", []FieldError{{Field: "password", Code: "format"}}},
		{strings.Repeat("a", 128), nil},
		{"correct horse", nil},
		{"密码密码密码密码", nil},
		{"1234567a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.pw, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, CheckPassword(tt.pw)); diff != "" {
				t.Fatalf("CheckPassword(%q) (-want +got):\n%s", tt.pw, diff)
			}
		})
	}
}
