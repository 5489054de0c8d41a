package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/semaphore"

	"github.com/huizong/huizong/services/media"
)

// Limits on attachments.
const (
	// MaxAttachmentBytes caps one uploaded file.
	MaxAttachmentBytes = 10 << 20
	// ThumbnailSide is the longer side of list-view thumbnails, in pixels.
	ThumbnailSide = 320
	maxFileName   = 120
	// DecodeBudget bounds the memory all photos being decoded at once may
	// take together: twice the most one image may take, so two of the
	// largest, or many phone photos, proceed side by side.
	DecodeBudget = 2 * media.MaxDecodedBytes
)

// Attachments stores the photos and scans records refer to: it checks
// what a file really is, removes location data from photos and makes
// thumbnails.
type Attachments struct {
	store AttachmentStore
	now   Clock
	// images bounds how many photos are decoded at once, to the cores.
	images chan struct{}
	// memory bounds what they take together: a count alone lets a few
	// 400 MB decodes run side by side.
	memory *decodeBudget
	// Quota is how many bytes of uploads one user may keep stored (0: no
	// limit); an upload beyond it is refused before any work is done.
	Quota int64
}

// NewAttachments returns the attachment service; at most parallel photos
// are processed at once, and together they may take DecodeBudget bytes to
// decode.
func NewAttachments(store AttachmentStore, now Clock, parallel int) *Attachments {
	return &Attachments{store: store, now: now, images: make(chan struct{}, max(1, parallel)),
		memory: newDecodeBudget(DecodeBudget)}
}

// decodeBudget is a weighted semaphore over bytes of decode memory.
type decodeBudget struct {
	total int64
	sem   *semaphore.Weighted
}

// newDecodeBudget returns a budget of total bytes (at least 1).
func newDecodeBudget(total int64) *decodeBudget {
	total = max(1, total)
	return &decodeBudget{total: total, sem: semaphore.NewWeighted(total)}
}

// acquire waits until n bytes are free, or ctx ends, and returns what was
// taken, to be given back to release. n is capped at the whole budget so
// an image larger than it (Inspect refuses those, but a caller with a
// smaller budget may not) runs alone rather than never.
func (b *decodeBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(1, n), b.total)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, fmt.Errorf("waiting for decode memory: %w", err)
	}
	return n, nil
}

// release gives back what acquire took.
func (b *decodeBudget) release(n int64) { b.sem.Release(n) }

// Upload is one file as a client sends it.
type Upload struct {
	// ClientID makes the upload idempotent; one is made when empty.
	ClientID string
	Name     string
	Content  []byte
}

// Create stores an upload, or finds the file an earlier attempt with the
// same client id stored (created is false then).
func (s *Attachments) Create(ctx context.Context, p Principal, up Upload) (a Attachment, created bool, err error) {
	const op = "attachments.create"
	clientID := strings.ToLower(strings.TrimSpace(up.ClientID))
	switch {
	case clientID == "":
		clientID = newUUID()
	case !uuidPattern.MatchString(clientID):
		return Attachment{}, false, Invalid(op, Field("client_id", "format"))
	}
	if prev, err := s.store.AttachmentByClientID(ctx, p.RecordScope(), p.User.ID, clientID); err == nil {
		return prev, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Attachment{}, false, fmt.Errorf("%s: %w", op, err)
	}
	if len(up.Content) == 0 {
		return Attachment{}, false, Invalid(op, Field("file", "required"))
	}
	if len(up.Content) > MaxAttachmentBytes {
		return Attachment{}, false, Invalid(op, Field("file", "too_large", "max", MaxAttachmentBytes))
	}
	if s.Quota > 0 {
		used, err := s.store.AttachmentBytes(ctx, p.User.ID)
		if err != nil {
			return Attachment{}, false, fmt.Errorf("%s: %w", op, err)
		}
		if used+int64(len(up.Content)) > s.Quota {
			return Attachment{}, false, Invalid(op, Field("file", "quota_exceeded", "max", fmt.Sprintf("%d MiB", s.Quota>>20)))
		}
	}
	info, err := media.Inspect(up.Content)
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return Attachment{}, false, Invalid(op, Field("file", "image_too_large"))
	case err != nil:
		return Attachment{}, false, Invalid(op, Field("file", "media_type", "types", "JPEG, PNG, WebP, PDF"))
	}
	content := up.Content
	var thumb []byte
	if info.ContentType != media.PDF {
		select {
		case s.images <- struct{}{}:
		case <-ctx.Done():
			return Attachment{}, false, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		defer func() { <-s.images }()
		held, err := s.memory.acquire(ctx, info.DecodedBytes)
		if err != nil {
			return Attachment{}, false, fmt.Errorf("%s: %w", op, err)
		}
		defer s.memory.release(held)
		if content, err = media.Strip(up.Content, info.ContentType); err != nil {
			return Attachment{}, false, Invalid(op, Field("file", "media_type", "types", "JPEG, PNG, WebP, PDF"))
		}
		if thumb, err = media.Thumbnail(content, info.ContentType, ThumbnailSide); err != nil {
			// A file that sniffs as an image but will not decode whole.
			return Attachment{}, false, Invalid(op, Field("file", "corrupt"))
		}
	}
	now := s.now().UTC()
	sum := sha256.Sum256(content)
	a = Attachment{ID: NewID(now), ClientID: clientID, OwnerID: p.User.ID, OrgID: p.User.OrgID,
		OrgPath: p.User.OrgPath, Name: cleanFileName(up.Name, info.ContentType), ContentType: info.ContentType,
		Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Width: info.Width, Height: info.Height,
		ThumbSize: int64(len(thumb)), CreatedAt: now}
	err = s.store.CreateAttachment(ctx, a, content, thumb)
	if errors.Is(err, ErrConflict) {
		// Two retries raced: the other one stored it.
		if prev, perr := s.store.AttachmentByClientID(ctx, p.RecordScope(), p.User.ID, clientID); perr == nil {
			return prev, false, nil
		}
	}
	if err != nil {
		return Attachment{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return a, true, nil
}

// Get returns an attachment's metadata if the caller may see it: a
// teacher their own uploads, everyone else their subtree's.
func (s *Attachments) Get(ctx context.Context, p Principal, id string) (Attachment, error) {
	a, err := s.store.Attachment(ctx, p.RecordScope(), id)
	if err != nil {
		return Attachment{}, fmt.Errorf("attachments.get: %w", err)
	}
	return a, nil
}

// Content returns a file (or its thumbnail) the caller may see.
func (s *Attachments) Content(ctx context.Context, p Principal, id string, thumb bool) (Attachment, []byte, error) {
	a, b, err := s.store.AttachmentContent(ctx, p.RecordScope(), id, thumb)
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("attachments.content: %w", err)
	}
	return a, b, nil
}

// cleanFileName keeps a display name safe for a Content-Disposition header:
// no directories, no control characters, bounded, with the extension of
// the real type.
func cleanFileName(name, contentType string) string {
	name = path.Base(strings.ReplaceAll(CleanText(name), `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '/' {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" {
		name = ""
	}
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}[contentType]
	name = strings.TrimSuffix(name, path.Ext(name))
	if utf8.RuneCountInString(name) > maxFileName {
		name = string([]rune(name)[:maxFileName])
	}
	if name == "" {
		name = "file"
	}
	return name + ext
}
