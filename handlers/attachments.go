package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Attachments serves the photos and scans records refer to.
type Attachments struct {
	attachments *services.Attachments
	out         presenter
}

// AttachmentResponse describes one stored file.
type AttachmentResponse struct {
	ID           string `json:"id" validate:"required" example:"06cwcqgtg2avvsh7jkzf3xrmkm"`
	ClientID     string `json:"client_id" validate:"required" example:"625d36c9-f327-4bcb-b0fa-f815859da538"`
	Name         string `json:"name" validate:"required" example:"演练现场.jpg"`
	ContentType  string `json:"content_type" validate:"required" enums:"image/jpeg,image/png,image/webp,application/pdf" example:"image/jpeg"`
	Size         int64  `json:"size" validate:"required" example:"2483122"`
	SHA256       string `json:"sha256" validate:"required" example:"9f2b5c7e0d1a4f6b8c3e5a7d9b1f3c5e7a9d2b4f6c8e0a1d3f5b7c9e1a3d5f7b"`
	Width        int    `json:"width,omitempty" example:"4032"`
	Height       int    `json:"height,omitempty" example:"3024"`
	URL          string `json:"url" validate:"required" example:"/api/v1/attachments/06cwcqgtg2avvsh7jkzf3xrmkm/content"`
	ThumbnailURL string `json:"thumbnail_url,omitempty" example:"/api/v1/attachments/06cwcqgtg2avvsh7jkzf3xrmkm/thumbnail"`
	CreatedAt    string `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
} //	@name	Attachment

func (p presenter) attachment(a services.Attachment) AttachmentResponse {
	out := AttachmentResponse{ID: a.ID, ClientID: a.ClientID, Name: a.Name, ContentType: a.ContentType, Size: a.Size,
		SHA256: a.SHA256, Width: a.Width, Height: a.Height, URL: "/api/v1/attachments/" + a.ID + "/content",
		CreatedAt: p.time(a.CreatedAt)}
	if a.ThumbSize > 0 {
		out.ThumbnailURL = "/api/v1/attachments/" + a.ID + "/thumbnail"
	}
	return out
}

// maxUploadBytes bounds an upload request: one file plus the form.
const maxUploadBytes = services.MaxAttachmentBytes + 64<<10

// Create uploads a file.
//
//	@Summary		上传附件 Upload an attachment
//	@Description	为记录上传照片或扫描件：JPEG、PNG、WebP 或 PDF（类型按文件内容判断，而非文件名），不超过 10 MB。照片的位置等元数据会被清除，并生成缩略图。client_id（UUID）使重试安全：以相同 client_id 再次上传时返回首次上传的文件（200）。将返回的 id 填入记录的 attachments 字段；每条记录最多 9 个附件。Stores a photo or scan for a record: JPEG, PNG, WebP or PDF (the type is read from the bytes, not the name), at most 10 MB. Location and other metadata are removed from photos and a thumbnail is made. client_id (a UUID) makes retries safe: a second upload with the same client_id returns the first file (200). Put the returned id in a record's attachments field; a record holds at most 9.
//	@ID				uploadAttachment
//	@Tags			attachments
//	@Security		BearerAuth
//	@Accept			multipart/form-data
//	@Produce		json,application/problem+json
//	@Param			file							formData	file				true	"The file"
//	@Param			client_id						formData	string				false	"UUID made by the client"
//	@Success		200								{object}	AttachmentResponse	"a retry: the file stored first"
//	@Success		201								{object}	AttachmentResponse
//	@Header			200								{string}	Location	"URL of what was created"
//	@Header			201								{string}	Location	"URL of what was created"
//	@Failure		400,401,403,413,415,422,429,503	{object}	Problem
//	@Header			429								{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503								{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/attachments [post]
func (h *Attachments) Create(c *gin.Context) {
	fh, err := c.FormFile("file")
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
			return
		}
		respondError(c, badField("attachments.create", "file", "required", nil))
		return
	}
	if fh.Size > services.MaxAttachmentBytes {
		writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
		return
	}
	f, err := fh.Open()
	if err != nil {
		respondError(c, fmt.Errorf("attachments.create: open upload: %w", err))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, services.MaxAttachmentBytes+1))
	if err != nil {
		respondError(c, fmt.Errorf("attachments.create: read upload: %w", err))
		return
	}
	if len(data) > services.MaxAttachmentBytes {
		writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
		return
	}
	a, isNew, err := h.attachments.Create(c.Request.Context(), caller(c),
		services.Upload{ClientID: c.PostForm("client_id"), Name: fh.Filename, Content: data})
	if err != nil {
		respondError(c, err)
		return
	}
	if !isNew {
		c.JSON(http.StatusOK, h.out.attachment(a))
		return
	}
	c.Header("Location", "/api/v1/attachments/"+a.ID)
	c.JSON(http.StatusCreated, h.out.attachment(a))
}

// Get describes a file.
//
//	@Summary		附件详情 Get an attachment's details
//	@Description	返回调用者有权查看的附件详情（教师可看本人上传的附件；校长和管理员可看本校或本辖区的附件）。Returns the details of a file the caller may see (teachers their own uploads; principals and admins those of their school or subtree).
//	@ID				getAttachment
//	@Tags			attachments
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id					path		string	true	"Attachment id"
//	@Success		200					{object}	AttachmentResponse
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/attachments/{id} [get]
func (h *Attachments) Get(c *gin.Context) {
	a, err := h.attachments.Get(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, h.out.attachment(a))
}

// Content downloads a file.
//
//	@Summary		下载附件 Download an attachment
//	@Description	返回存储的文件内容（照片已去除位置信息）。查看范围与记录相同。响应带 ETag（即文件的 SHA-256），If-None-Match 匹配时返回 304。Returns the stored bytes (photos without their location data). Scoped like records. Answers an ETag (the SHA-256) and 304 to a matching If-None-Match.
//	@ID				downloadAttachment
//	@Tags			attachments
//	@Security		BearerAuth
//	@Produce		image/jpeg,image/png,image/webp,application/pdf,application/problem+json
//	@Param			id	path	string	true	"Attachment id"
//	@Success		200	{file}	binary
//	@Success		304
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304					{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/attachments/{id}/content [get]
func (h *Attachments) Content(c *gin.Context) { h.serve(c, false) }

// Thumbnail downloads a photo's thumbnail.
//
//	@Summary		下载缩略图 Download a thumbnail
//	@Description	返回长边不超过 320 像素的 JPEG 缩略图，用于列表显示；PDF 返回 404。Returns a JPEG at most 320 pixels on its longer side, for list views; 404 for PDFs.
//	@ID				downloadAttachmentThumbnail
//	@Tags			attachments
//	@Security		BearerAuth
//	@Produce		image/jpeg,application/problem+json
//	@Param			id	path	string	true	"Attachment id"
//	@Success		200	{file}	binary
//	@Success		304
//	@Param			If-None-Match		header		string	false	"ETag of a cached copy: 304 when it is still current"
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304					{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/attachments/{id}/thumbnail [get]
func (h *Attachments) Thumbnail(c *gin.Context) { h.serve(c, true) }

func (h *Attachments) serve(c *gin.Context, thumb bool) {
	a, b, err := h.attachments.Content(c.Request.Context(), caller(c), c.Param("id"), thumb)
	if err != nil {
		respondError(c, err)
		return
	}
	tag := `"` + a.SHA256[:32] + `"`
	ct := a.ContentType
	if thumb {
		tag, ct = `"t`+a.SHA256[:31]+`"`, "image/jpeg"
	}
	// Files never change under an id: private caching is safe.
	c.Header("ETag", tag)
	c.Header("Cache-Control", "private, max-age=86400")
	if c.GetHeader("If-None-Match") == tag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
	disposition := "inline"
	if ct == "application/pdf" {
		disposition = "attachment"
	}
	c.Header("Content-Disposition", disposition+"; filename*=UTF-8''"+url.PathEscape(a.Name))
	c.Data(http.StatusOK, ct, b)
}
