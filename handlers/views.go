package handlers

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// presenter turns domain values into response types, with timestamps in
// the configured time zone.
type presenter struct {
	loc *time.Location
}

func (p presenter) time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.loc).Format(time.RFC3339)
}

// OrgResponse is one org unit.
type OrgResponse struct {
	ID        string   `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	Kind      string   `json:"kind" validate:"required" enums:"city,district,school" example:"school"`
	Name      string   `json:"name" validate:"required" example:"成华区实验小学"`
	ParentID  string   `json:"parent_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Ancestors []string `json:"ancestors" validate:"required" example:"06cg5jdyg0fr3287x1nym94djr,01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Code      string   `json:"code,omitempty" example:"2151010001"`
	Stages    []string `json:"stages,omitempty" example:"小学"`
	Students  int      `json:"students" validate:"required" example:"1800"`
	Staff     int      `json:"staff" validate:"required" example:"120"`
	Version   int64    `json:"version" validate:"required" example:"1"`
	CreatedAt string   `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	UpdatedAt string   `json:"updated_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
} //	@name	Org

func (p presenter) org(o services.Org) OrgResponse {
	anc := o.Ancestors()
	if anc == nil {
		anc = []string{}
	}
	return OrgResponse{
		ID: o.ID, Kind: string(o.Kind), Name: o.Name, ParentID: o.ParentID, Ancestors: anc,
		Code: o.Code, Stages: o.Stages, Students: o.Students, Staff: o.Staff, Version: o.Version,
		CreatedAt: p.time(o.CreatedAt), UpdatedAt: p.time(o.UpdatedAt),
	}
}

// UserResponse is one account; it never carries a password hash.
type UserResponse struct {
	ID                 string `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1b"`
	Username           string `json:"username" validate:"required" example:"13800138000"`
	Name               string `json:"name" validate:"required" example:"张老师"`
	Mobile             string `json:"mobile,omitempty" example:"13800138000"`
	Role               string `json:"role" validate:"required" enums:"teacher,principal,district_admin,city_admin,sysadmin" example:"teacher"`
	OrgID              string `json:"org_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	MustChangePassword bool   `json:"must_change_password" validate:"required"`
	Disabled           bool   `json:"disabled" validate:"required"`
	Version            int64  `json:"version" validate:"required" example:"1"`
	CreatedAt          string `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	UpdatedAt          string `json:"updated_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
} //	@name	User

func (p presenter) user(u services.User) UserResponse {
	return UserResponse{
		ID: u.ID, Username: u.Username, Name: u.Name, Mobile: u.Mobile, Role: string(u.Role), OrgID: u.OrgID,
		MustChangePassword: u.MustChangePassword, Disabled: u.Disabled, Version: u.Version,
		CreatedAt: p.time(u.CreatedAt), UpdatedAt: p.time(u.UpdatedAt),
	}
}

// etag is the strong entity tag of a versioned resource.
func etag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// ifMatch reads the version a change is conditional on: 428 without
// If-Match, 412 when it names no version we could hold.
func ifMatch(c *gin.Context) (int64, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" {
		return 0, &services.Error{Op: "if-match", Kind: services.KindPreconditionRequired, Code: "precondition_required"}
	}
	// A template as a unit sees it is tagged "v3+<extensions>": the
	// version is what a change is conditional on.
	tag, _, _ := strings.Cut(strings.Trim(h, `"`), "+")
	v, ok := strings.CutPrefix(tag, "v")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || n < 1 {
		return 0, &services.Error{Op: "if-match", Kind: services.KindStale, Code: "precondition_failed", Err: services.ErrStale}
	}
	return n, nil
}

// page reads limit and cursor: limit 1..100 (default 20; larger values
// are capped), cursor opaque.
func page(c *gin.Context) (services.Page, error) {
	limit, err := limitOf(c)
	if err != nil {
		return services.Page{}, err
	}
	p := services.Page{Limit: limit}
	if s := c.Query("cursor"); s != "" {
		after, err := decodeCursor(s)
		if err != nil {
			return p, badField("page", "cursor", "cursor", nil)
		}
		p.After = after
	}
	return p, nil
}

// limitOf reads limit: 1..100 (default 20; larger values are capped).
func limitOf(c *gin.Context) (int, error) {
	var p services.Page
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, badField("page", "limit", "min", map[string]any{"min": 1})
		}
		p.Limit = n
	}
	return p.Normalize().Limit, nil
}

// wantCount reads count=true: lists carry no totals unless asked.
func wantCount(c *gin.Context) (bool, error) {
	s := c.Query("count")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badField("page", "count", "type", map[string]any{"expected": "boolean"})
	}
	return b, nil
}

// Cursors wrap the last id of a page so clients treat them as opaque.
func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + lastID))
}

func decodeCursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 200 {
		return "", fmt.Errorf("bad cursor")
	}
	id, ok := strings.CutPrefix(string(b), "id:")
	if !ok || id == "" {
		return "", fmt.Errorf("bad cursor")
	}
	return id, nil
}

// nextCursor is the cursor of the page after items, or "" at the end.
func nextCursor(n, limit int, lastID string) string {
	if n < limit {
		return ""
	}
	return encodeCursor(lastID)
}

// created answers 201 with Location and ETag.
func created(c *gin.Context, location string, version int64, body any) {
	c.Header("Location", location)
	c.Header("ETag", etag(version))
	c.JSON(http.StatusCreated, body)
}
