package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/huizong/huizong/services"
)

const attachmentCols = `m.id, m.client_id, m.owner_id, m.org_id, m.org_path, m.name, m.content_type, m.size,
	m.sha256, m.width, m.height, m.thumb_size, m.created_at`

// The kinds of bytes kept for an attachment.
const (
	blobContent = "content"
	blobThumb   = "thumb"
)

// attachmentScope restricts a query on "attachments m" to sc (sc must not
// be empty). Attachments are only ever read one at a time, so the path is
// searched in the row itself.
func attachmentScope(sc services.Scope) (string, []any) {
	var cond string
	var args []any
	if !sc.All {
		cond += ` AND EXISTS (SELECT 1 FROM json_each(m.org_path) WHERE value = ?)`
		args = append(args, sc.OrgID)
	}
	if sc.AuthorID != "" {
		cond += ` AND m.owner_id = ?`
		args = append(args, sc.AuthorID)
	}
	return cond, args
}

func scanAttachment(row scanner) (services.Attachment, error) {
	var (
		a         services.Attachment
		path      string
		createdAt sql.NullInt64
	)
	if err := row.Scan(&a.ID, &a.ClientID, &a.OwnerID, &a.OrgID, &path, &a.Name, &a.ContentType, &a.Size,
		&a.SHA256, &a.Width, &a.Height, &a.ThumbSize, &createdAt); err != nil {
		return services.Attachment{}, err
	}
	a.CreatedAt = timeOf(createdAt)
	if err := fromJSON(path, &a.OrgPath); err != nil {
		return services.Attachment{}, err
	}
	return a, nil
}

// CreateAttachment stores a, its content and its thumbnail in one
// transaction, so a refused upload leaves nothing behind.
func (s *Store) CreateAttachment(ctx context.Context, a services.Attachment, content, thumb []byte) error {
	const op = "sqlite.CreateAttachment"
	if content == nil {
		content = []byte{} // NOT NULL: an empty file is still a file
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO attachments (id, client_id, owner_id, org_id, org_path, name,
			content_type, size, sha256, width, height, thumb_size, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.ClientID, a.OwnerID, a.OrgID, toJSON(a.OrgPath), a.Name, a.ContentType, a.Size, a.SHA256,
			a.Width, a.Height, a.ThumbSize, msOf(a.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (attachment_id, kind, bytes) VALUES (?, ?, ?)`,
			a.ID, blobContent, content); err != nil {
			return err
		}
		if len(thumb) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO blobs (attachment_id, kind, bytes) VALUES (?, ?, ?)`,
			a.ID, blobThumb, thumb)
		return err
	})
	return wrap(op, err)
}

// Attachment returns the metadata of id inside sc.
func (s *Store) Attachment(ctx context.Context, sc services.Scope, id string) (services.Attachment, error) {
	const op = "sqlite.Attachment"
	if sc.Empty() {
		return services.Attachment{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, args := attachmentScope(sc)
	a, err := scanAttachment(s.queryRow(ctx, `SELECT `+attachmentCols+` FROM attachments m WHERE m.id = ?`+cond,
		append([]any{id}, args...)...))
	return a, wrap(op, err)
}

// AttachmentByClientID returns what ownerID uploaded as clientID inside sc.
func (s *Store) AttachmentByClientID(ctx context.Context, sc services.Scope, ownerID, clientID string) (services.Attachment, error) {
	const op = "sqlite.AttachmentByClientID"
	if sc.Empty() {
		return services.Attachment{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	cond, args := attachmentScope(sc)
	a, err := scanAttachment(s.queryRow(ctx, `SELECT `+attachmentCols+` FROM attachments m
		WHERE m.owner_id = ? AND m.client_id = ?`+cond, append([]any{ownerID, clientID}, args...)...))
	return a, wrap(op, err)
}

// AttachmentContent returns the metadata and bytes of id inside sc (the
// thumbnail if thumb is set), read in one statement so both belong to the
// same snapshot.
func (s *Store) AttachmentContent(ctx context.Context, sc services.Scope, id string, thumb bool) (services.Attachment, []byte, error) {
	const op = "sqlite.AttachmentContent"
	if sc.Empty() {
		return services.Attachment{}, nil, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	kind := blobContent
	if thumb {
		kind = blobThumb
	}
	cond, args := attachmentScope(sc)
	var (
		a     services.Attachment
		path  string
		ca    sql.NullInt64
		bytes []byte
	)
	err := s.queryRow(ctx, `SELECT `+attachmentCols+`, b.bytes FROM attachments m
		JOIN blobs b ON b.attachment_id = m.id AND b.kind = ? WHERE m.id = ?`+cond,
		append([]any{kind, id}, args...)...).Scan(&a.ID, &a.ClientID, &a.OwnerID, &a.OrgID, &path, &a.Name,
		&a.ContentType, &a.Size, &a.SHA256, &a.Width, &a.Height, &a.ThumbSize, &ca, &bytes)
	if err != nil {
		return services.Attachment{}, nil, wrap(op, err)
	}
	a.CreatedAt = timeOf(ca)
	if err := fromJSON(path, &a.OrgPath); err != nil {
		return services.Attachment{}, nil, wrap(op, err)
	}
	return a, bytes, nil
}

// AttachmentBytes sums what ownerID keeps stored, uploads and thumbnails,
// over the (owner_id, client_id) index.
func (s *Store) AttachmentBytes(ctx context.Context, ownerID string) (int64, error) {
	var n int64
	err := s.queryRow(ctx, `SELECT COALESCE(SUM(size + thumb_size), 0) FROM attachments WHERE owner_id = ?`, ownerID).Scan(&n)
	return n, wrap("sqlite.AttachmentBytes", err)
}
