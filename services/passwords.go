package services

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters.
type PasswordParams struct {
	// Memory is in KiB.
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultPasswordParams returns OWASP's first argon2id recommendation
// (m=19456 KiB, t=2, p=1) with a 16-byte salt and a 32-byte key. It is a
// function rather than a variable so nothing can change it at run time.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Limits on the parameters read back from a stored hash: a corrupt or
// hostile row must not make one verification allocate gigabytes.
const (
	maxHashMemory = 1 << 20 // KiB, 1 GiB
	maxHashTime   = 64
	maxHashKey    = 128
	maxHashSalt   = 64
)

// errBadHash means a stored password hash is not a PHC argon2id string we
// can check.
var errBadHash = errors.New("malformed password hash")

// Passwords hashes and verifies passwords with argon2id. Each hash costs
// Memory KiB, so a semaphore bounds how many run at once: a burst of logins
// queues instead of exhausting memory.
type Passwords struct {
	params PasswordParams
	sem    chan struct{}
	// dummy is a hash of a random password made with params, checked
	// against when the user does not exist so that path costs the same.
	dummy string
}

// NewPasswords returns a Passwords hashing with p (zero fields take the
// defaults) and at most maxConcurrent hashes in flight (GOMAXPROCS when
// maxConcurrent <= 0). It computes one hash up front for VerifyDummy.
func NewPasswords(p PasswordParams, maxConcurrent int) *Passwords {
	d := DefaultPasswordParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	pw := &Passwords{params: p, sem: make(chan struct{}, maxConcurrent)}
	pw.dummy = encodeHash(p, randomBytes(int(p.SaltLen)), pw.derive(rand.Text(), randomBytes(int(p.SaltLen)), p))
	return pw
}

// Params returns the parameters new hashes use.
func (pw *Passwords) Params() PasswordParams { return pw.params }

// Hash returns the PHC string of password with a fresh salt. It waits for
// a free slot, or until ctx is done.
func (pw *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := pw.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer pw.release()
	salt := randomBytes(int(pw.params.SaltLen))
	return encodeHash(pw.params, salt, pw.derive(password, salt, pw.params)), nil
}

// Verify reports whether password matches the PHC string hash, and whether
// hash was made with other parameters than the current ones and should be
// replaced by a fresh Hash.
func (pw *Passwords) Verify(ctx context.Context, hash, password string) (ok, needsRehash bool, err error) {
	p, salt, key, err := decodeHash(hash)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if err := pw.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	defer pw.release()
	got := pw.derive(password, salt, p)
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, p != pw.params, nil
}

// VerifyDummy spends the same work as Verify against a hash no password
// matches; sign-in calls it for unknown users so they cannot be told apart
// from wrong passwords by the time taken.
func (pw *Passwords) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := pw.Verify(ctx, pw.dummy, password)
	return err
}

func (pw *Passwords) acquire(ctx context.Context) error {
	select {
	case pw.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (pw *Passwords) release() { <-pw.sem }

func (pw *Passwords) derive(password string, salt []byte, p PasswordParams) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return b
}

var phcEncoding = base64.RawStdEncoding

// encodeHash formats $argon2id$v=19$m=..,t=..,p=..$salt$key.
func encodeHash(p PasswordParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		phcEncoding.EncodeToString(salt), phcEncoding.EncodeToString(key))
}

func decodeHash(s string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	var m, t, th uint64
	for i, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		want := [...]string{"m", "t", "p"}
		if !ok || i >= len(want) || name != want[i] {
			return p, nil, nil, fmt.Errorf("%w: params %q", errBadHash, parts[3])
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("%w: params %q", errBadHash, parts[3])
		}
		switch i {
		case 0:
			m = n
		case 1:
			t = n
		case 2:
			th = n
		}
	}
	if m == 0 || m > maxHashMemory || t == 0 || t > maxHashTime || th == 0 || th > 255 || m < 8*th {
		return p, nil, nil, fmt.Errorf("%w: params %q", errBadHash, parts[3])
	}
	salt, err := phcEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxHashSalt {
		return p, nil, nil, fmt.Errorf("%w: salt", errBadHash)
	}
	key, err := phcEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxHashKey {
		return p, nil, nil, fmt.Errorf("%w: key", errBadHash)
	}
	p = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(th),
		SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

// Password length limits, in characters (OWASP: at least 8, allow long
// passphrases, cap to bound hashing input).
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// CheckPassword applies the policy for a new password: 8 to 128
// characters, valid UTF-8, not blank and not only digits. It returns the
// problems under the field "password"; callers rename the field when the
// input is called otherwise.
func CheckPassword(pw string) []FieldError {
	const field = "password"
	if pw == "" {
		return []FieldError{Field(field, "required")}
	}
	if !utf8.ValidString(pw) {
		return []FieldError{Field(field, "format")}
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return []FieldError{Field(field, "min_length", "min", MinPasswordLen)}
	}
	if n > MaxPasswordLen {
		return []FieldError{Field(field, "max_length", "max", MaxPasswordLen)}
	}
	if strings.TrimSpace(pw) == "" {
		return []FieldError{Field(field, "blank")}
	}
	digits := true
	for _, r := range pw {
		if !unicode.IsDigit(r) {
			digits = false
			break
		}
	}
	if digits {
		return []FieldError{Field(field, "all_digits")}
	}
	return nil
}
