package services

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// IdempotentRequest is a claimed Idempotency-Key: who sent it on which
// route, a hash of the request, and, once the first request finished, the
// answer replayed to every retry.
type IdempotentRequest struct {
	// ID is derived from (user, route, key): keys are scoped to both.
	ID          string
	UserID      string
	RequestHash string
	Done        bool
	Status      int
	Location    string
	ETag        string
	Body        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// IdempotencyStore keeps claimed idempotency keys.
type IdempotencyStore interface {
	// ClaimIdempotency stores r if no request has its ID and reports true;
	// otherwise it returns the stored request and false. Exactly one of
	// concurrent claims wins.
	ClaimIdempotency(ctx context.Context, r IdempotentRequest) (IdempotentRequest, bool, error)
	// CompleteIdempotency records the answer of a claimed request.
	CompleteIdempotency(ctx context.Context, r IdempotentRequest) error
	// ReleaseIdempotency removes a claim that is not done and was made at
	// claimedAt, so a retry may run; anything else is left alone.
	ReleaseIdempotency(ctx context.Context, id string, claimedAt time.Time) error
	// DeleteIdempotency removes requests that expired before.
	DeleteIdempotency(ctx context.Context, before time.Time) (int64, error)
}

// Idempotency makes creates safe to retry, in the manner of the IETF
// Idempotency-Key draft: the first request with a key runs, its answer is
// kept for a day, and a retry with the same key and the same request gets
// that answer again instead of creating a second object.
type Idempotency struct {
	store IdempotencyStore
	now   Clock
	// TTL is how long answers are kept; Stale is when an unfinished claim
	// (its server died mid-request) may be taken over.
	TTL, Stale time.Duration
}

// NewIdempotency returns the idempotency service.
func NewIdempotency(store IdempotencyStore, now Clock) *Idempotency {
	return &Idempotency{store: store, now: now, TTL: 24 * time.Hour, Stale: time.Minute}
}

// IdempotencyTicket is a claim the caller must Finish.
type IdempotencyTicket struct {
	req  IdempotentRequest
	seal cipher.AEAD // encrypts the answer kept for replay
}

// Answer is a stored or replayed response.
type Answer struct {
	Status   int
	Location string
	ETag     string
	Body     []byte
}

// maxIdempotencyKey bounds the key a client may send.
const maxIdempotencyKey = 255

// Begin claims key for userID on target, the method and concrete path of
// the request ("POST /api/v1/records/R1/approve"). It returns either a
// ticket (run the request, then Finish) or the answer of the first request
// to replay. A key belongs to one user and one request: the same key with
// another body, or on another path or method, is refused (422), and so is
// a retry while the first request is still running (409).
func (s *Idempotency) Begin(ctx context.Context, userID, target, key string, requestHash []byte) (*IdempotencyTicket, *Answer, error) {
	const op = "idempotency.begin"
	if len(key) == 0 || len(key) > maxIdempotencyKey || !printableASCII(key) {
		return nil, nil, &Error{Op: op, Kind: KindBadRequest, Code: "bad_request",
			Fields: []FieldError{Field("Idempotency-Key", "format")}}
	}
	// The claim is the user's key alone, and the request hash covers the
	// target: keyed by route pattern, /records/R1/approve's answer was
	// replayed for /records/R2/approve.
	id := sha256.Sum256([]byte(userID + "\x00" + key))
	h := sha256.New()
	h.Write([]byte(target + "\x00"))
	h.Write(requestHash)
	now := s.now().UTC()
	r := IdempotentRequest{
		ID: hex.EncodeToString(id[:]), UserID: userID, RequestHash: hex.EncodeToString(h.Sum(nil)),
		CreatedAt: now, ExpiresAt: now.Add(s.TTL),
	}
	seal, err := replaySeal(userID, key)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	for attempt := 0; attempt < 3; attempt++ {
		stored, claimed, err := s.store.ClaimIdempotency(ctx, r)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		switch {
		case claimed:
			return &IdempotencyTicket{req: r, seal: seal}, nil, nil
		case stored.RequestHash != r.RequestHash:
			return nil, nil, &Error{Op: op, Kind: KindInvalid, Code: "idempotency_key_reused",
				Fields: []FieldError{Field("Idempotency-Key", "reused")}}
		case stored.Done:
			body, err := openReplay(seal, stored.Body)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", op, err)
			}
			return nil, &Answer{Status: stored.Status, Location: stored.Location, ETag: stored.ETag, Body: body}, nil
		case now.Sub(stored.CreatedAt) < s.Stale:
			return nil, nil, &Error{Op: op, Kind: KindConflict, Code: "idempotency_in_flight", RetryAfter: time.Second}
		}
		// The first request's server died before answering: take over.
		if err := s.store.ReleaseIdempotency(ctx, stored.ID, stored.CreatedAt); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil, nil, &Error{Op: op, Kind: KindConflict, Code: "idempotency_in_flight", RetryAfter: time.Second}
}

// Finish records the answer of a successful request for replay, or
// releases the key after a failure so the client may try again.
func (s *Idempotency) Finish(ctx context.Context, t *IdempotencyTicket, a Answer) error {
	if a.Status < 200 || a.Status > 299 {
		return s.store.ReleaseIdempotency(ctx, t.req.ID, t.req.CreatedAt)
	}
	r := t.req
	r.Done, r.Status, r.Location, r.ETag, r.Body = true, a.Status, a.Location, a.ETag, sealReplay(t.seal, a.Body)
	if err := s.store.CompleteIdempotency(ctx, r); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("idempotency.finish: %w", err)
	}
	return nil
}

// replaySeal is the cipher kept answers are encrypted with: AES-256-GCM
// under a key derived from the Idempotency-Key, which only the client
// holds (the store keeps a hash of it). An answer can hold a secret (the
// password generated for a new account), and stored answers end up in the
// log, the WAL and backups for a day; encrypted, none of them holds it in
// clear, and a retry with the key still gets the same answer.
func replaySeal(userID, key string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("huizong idempotent replay v1\x00" + userID))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealReplay encrypts body with a fresh nonce, which it puts first.
func sealReplay(aead cipher.AEAD, body []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(body)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, body, nil)
}

// openReplay decrypts what sealReplay made.
func openReplay(aead cipher.AEAD, sealed []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("stored answer too short")
	}
	body, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return nil, fmt.Errorf("stored answer: %w", err)
	}
	return body, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
