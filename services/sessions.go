package services

import "time"

// Session is one signed-in device. Its refresh token is stored only as a
// hash; each use rotates it (Generation counts the rotations).
type Session struct {
	ID          string
	UserID      string
	Device      string
	UserAgent   string
	IP          string
	CurrentHash string
	// PrevHash is the token that was rotated away at RotatedAt: presenting
	// it again within the grace window is a retry, later it is theft.
	PrevHash   string
	Generation int64
	CreatedAt  time.Time
	RotatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time
}

// Active reports whether the session can still be refreshed at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// Rotation is the new state of a session after its refresh token was used.
type Rotation struct {
	CurrentHash string
	PrevHash    string
	Generation  int64
	RotatedAt   time.Time
	ExpiresAt   time.Time
	IP          string
}

// SigningKey is a key the server signs access tokens with. The newest
// active key signs; every key not retired verifies, so a rotation logs
// nobody out.
type SigningKey struct {
	ID         string
	Algorithm  string
	PrivateKey []byte // PKCS #8 DER
	CreatedAt  time.Time
	RetiredAt  time.Time
}
