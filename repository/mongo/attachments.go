package mongo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huizong/huizong/services"
)

// attachmentDoc is an attachment's metadata; its bytes live in the
// "attachments" GridFS bucket under the attachment id (and id + ".thumb").
type attachmentDoc struct {
	ID          string   `bson:"_id"`
	ClientID    string   `bson:"client_id"`
	ClientKey   string   `bson:"client_key"`
	OwnerID     string   `bson:"owner_id"`
	OrgID       string   `bson:"org_id"`
	Path        []string `bson:"path"`
	Name        string   `bson:"name"`
	ContentType string   `bson:"content_type"`
	Size        int64    `bson:"size"`
	SHA256      string   `bson:"sha256"`
	Width       int      `bson:"width"`
	Height      int      `bson:"height"`
	ThumbSize   int64    `bson:"thumb_size"`
	CreatedAt   int64    `bson:"created_at"`
}

func thumbID(id string) string { return id + ".thumb" }

// CreateAttachment uploads the bytes first, then the metadata that makes
// them visible; if the metadata is refused (a duplicate), the bytes go
// again. A crash in between leaves only invisible bytes.
func (s *Store) CreateAttachment(ctx context.Context, a services.Attachment, content, thumb []byte) error {
	const op = "mongo.CreateAttachment"
	if _, err := s.attachments.FindOne(ctx, bson.D{{Key: "_id", Value: a.ID}}).Raw(); err == nil {
		return fmt.Errorf("%s: %w", op, services.ErrConflict)
	}
	bucket := s.files
	if err := bucket.UploadFromStreamWithID(ctx, a.ID, a.Name, bytes.NewReader(content)); err != nil {
		return wrap(op, err)
	}
	if thumb != nil {
		if err := bucket.UploadFromStreamWithID(ctx, thumbID(a.ID), a.Name+".thumb.jpg", bytes.NewReader(thumb)); err != nil {
			s.dropFiles(ctx, a.ID)
			return wrap(op, err)
		}
	}
	d := attachmentDoc{ID: a.ID, ClientID: a.ClientID, ClientKey: a.OwnerID + "/" + a.ClientID, OwnerID: a.OwnerID,
		OrgID: a.OrgID, Path: a.OrgPath, Name: a.Name, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256,
		Width: a.Width, Height: a.Height, ThumbSize: a.ThumbSize, CreatedAt: ms(a.CreatedAt)}
	if d.Path == nil {
		d.Path = []string{}
	}
	if _, err := s.attachments.InsertOne(ctx, d); err != nil {
		s.dropFiles(ctx, a.ID)
		return wrap(op, err)
	}
	return nil
}

// dropFiles removes an upload's bytes, best effort (it runs after a
// failure that is reported anyway).
func (s *Store) dropFiles(ctx context.Context, id string) {
	for _, fid := range []string{id, thumbID(id)} {
		if err := s.files.Delete(ctx, fid); err != nil && !errors.Is(err, mongo.ErrFileNotFound) {
			continue
		}
	}
}

func toAttachment(d attachmentDoc) services.Attachment {
	return services.Attachment{ID: d.ID, ClientID: d.ClientID, OwnerID: d.OwnerID, OrgID: d.OrgID, OrgPath: d.Path,
		Name: d.Name, ContentType: d.ContentType, Size: d.Size, SHA256: d.SHA256, Width: d.Width, Height: d.Height,
		ThumbSize: d.ThumbSize, CreatedAt: timeOf(d.CreatedAt)}
}

func (s *Store) findAttachment(ctx context.Context, op string, f bson.D, sc services.Scope) (services.Attachment, error) {
	f, ok := recordScope(f, sc, "owner_id")
	if !ok {
		return services.Attachment{}, fmt.Errorf("%s: %w", op, services.ErrNotFound)
	}
	var d attachmentDoc
	if err := s.attachments.FindOne(ctx, f).Decode(&d); err != nil {
		return services.Attachment{}, wrap(op, err)
	}
	return toAttachment(d), nil
}

// Attachment returns the metadata of id inside sc.
func (s *Store) Attachment(ctx context.Context, sc services.Scope, id string) (services.Attachment, error) {
	return s.findAttachment(ctx, "mongo.Attachment", bson.D{{Key: "_id", Value: id}}, sc)
}

// AttachmentByClientID returns what ownerID uploaded as clientID.
func (s *Store) AttachmentByClientID(ctx context.Context, sc services.Scope, ownerID, clientID string) (services.Attachment, error) {
	return s.findAttachment(ctx, "mongo.AttachmentByClientID", bson.D{{Key: "client_key", Value: ownerID + "/" + clientID}}, sc)
}

// AttachmentContent returns the bytes of id (or its thumbnail) inside sc.
func (s *Store) AttachmentContent(ctx context.Context, sc services.Scope, id string, thumb bool) (services.Attachment, []byte, error) {
	const op = "mongo.AttachmentContent"
	a, err := s.Attachment(ctx, sc, id)
	if err != nil {
		return services.Attachment{}, nil, err
	}
	fid, size := a.ID, a.Size
	if thumb {
		if a.ThumbSize == 0 {
			return services.Attachment{}, nil, fmt.Errorf("%s: %w", op, services.ErrNotFound)
		}
		fid, size = thumbID(a.ID), a.ThumbSize
	}
	var buf bytes.Buffer
	buf.Grow(int(size))
	if _, err := s.files.DownloadToStream(ctx, fid, &buf); err != nil {
		if errors.Is(err, mongo.ErrFileNotFound) {
			return services.Attachment{}, nil, fmt.Errorf("%s: %w", op, services.ErrNotFound)
		}
		return services.Attachment{}, nil, wrap(op, err)
	}
	return a, buf.Bytes(), nil
}

// SweepOrphanFiles deletes attachment bytes that have no metadata: what
// a server that died between upload and metadata left behind. It looks at
// files uploaded between a day before before and before (which must lie
// well past any upload still under way); run hourly, that sees every file
// once or more. It returns how many files it deleted.
func (s *Store) SweepOrphanFiles(ctx context.Context, before time.Time) (int64, error) {
	const op = "mongo.SweepOrphanFiles"
	cur, err := s.files.Find(ctx, bson.D{{Key: "uploadDate", Value: bson.D{
		{Key: "$gte", Value: before.Add(-25 * time.Hour)}, {Key: "$lt", Value: before}}}})
	if err != nil {
		return 0, wrap(op, err)
	}
	var files []struct {
		ID any `bson:"_id"`
	}
	err = cur.All(ctx, &files)
	cur.Close(ctx)
	if err != nil {
		return 0, wrap(op, err)
	}
	var n int64
	for _, f := range files {
		fid, ok := f.ID.(string)
		if !ok {
			continue
		}
		id := strings.TrimSuffix(fid, ".thumb")
		err := s.attachments.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
		switch {
		case err == nil:
			continue
		case !errors.Is(err, mongo.ErrNoDocuments):
			return n, wrap(op, err)
		}
		if err := s.files.Delete(ctx, fid); err != nil && !errors.Is(err, mongo.ErrFileNotFound) {
			return n, wrap(op, err)
		}
		n++
	}
	return n, nil
}

// AttachmentBytes sums what ownerID keeps stored, uploads and thumbnails.
// The sizes are read over the owner_id index and added here: the
// portable subset (and FerretDB) is surer with a find than a $group.
func (s *Store) AttachmentBytes(ctx context.Context, ownerID string) (int64, error) {
	const op = "mongo.AttachmentBytes"
	cur, err := s.attachments.Find(ctx, bson.D{{Key: "owner_id", Value: ownerID}},
		options.Find().SetProjection(bson.D{{Key: "size", Value: 1}, {Key: "thumb_size", Value: 1}}))
	if err != nil {
		return 0, wrap(op, err)
	}
	defer cur.Close(ctx)
	var n int64
	for cur.Next(ctx) {
		var d struct {
			Size      int64 `bson:"size"`
			ThumbSize int64 `bson:"thumb_size"`
		}
		if err := cur.Decode(&d); err != nil {
			return 0, wrap(op, err)
		}
		n += d.Size + d.ThumbSize
	}
	return n, wrap(op, cur.Err())
}
