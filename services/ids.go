package services

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"sync"
	"time"
)

// idEncoding is Crockford-like lower-case base32 without padding: ids sort
// as strings in the order they were made.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new opaque id: 48 bits of milliseconds then 80 random
// bits, 26 characters that sort by creation time.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}

// Clock tells the time; tests set it.
type Clock func() time.Time

// idSequence makes ids like NewID that also strictly increase within the
// process when the clock stands still or steps back, so events made in
// one millisecond keep their order.
type idSequence struct {
	mu   sync.Mutex
	last [16]byte
}

// next returns the next id at now.
func (q *idSequence) next(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	q.mu.Lock()
	defer q.mu.Unlock()
	if bytes.Compare(b[:], q.last[:]) <= 0 {
		b = q.last
		for i := len(b) - 1; i >= 0; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	q.last = b
	return idEncoding.EncodeToString(b[:])
}
