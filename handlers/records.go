package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Records serves activity records (活动记录) and their review.
type Records struct {
	records *services.Records
	out     presenter
	budget  *services.Limiter // per-user record writes; a batch costs its length
}

// RecordRequest is a new record. Only these fields may be sent: status
// beyond draft/submitted, author, version and review fields are the
// server's.
type RecordRequest struct {
	ClientID    string          `json:"client_id,omitempty" example:"3f1c9a52-8d7e-4b7a-9c11-2a6f0e5d4b21"`
	Template    string          `json:"template" validate:"required" example:"safety_drill"`
	OrgID       string          `json:"org_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	OccurredOn  string          `json:"occurred_on" validate:"required" format:"date" example:"2025-10-09"`
	EndOn       string          `json:"end_on,omitempty" format:"date" example:"2025-10-09" extensions:"x-nullable"`
	Title       string          `json:"title" validate:"required" example:"秋季消防疏散演练"`
	Description string          `json:"description,omitempty" example:"全校师生参加，用时3分20秒"`
	Data        json.RawMessage `json:"data,omitempty" swaggertype:"object"`
	Status      string          `json:"status,omitempty" enums:"draft,submitted" example:"submitted"`
} //	@name	RecordRequest

func (r RecordRequest) input() services.RecordInput {
	return services.RecordInput{ClientID: r.ClientID, Template: r.Template, OrgID: r.OrgID, OccurredOn: r.OccurredOn,
		EndOn: r.EndOn, Title: r.Title, Description: r.Description, Data: r.Data, Status: r.Status}
}

// RecordPatchRequest edits a record: omitted fields stay; data is merged
// key by key (null removes a key).
type RecordPatchRequest struct {
	OccurredOn  *string         `json:"occurred_on,omitempty" example:"2025-10-09" format:"date" extensions:"x-nullable"`
	EndOn       *string         `json:"end_on,omitempty" format:"date" extensions:"x-nullable"`
	Title       *string         `json:"title,omitempty" extensions:"x-nullable"`
	Description *string         `json:"description,omitempty" extensions:"x-nullable"`
	Data        json.RawMessage `json:"data,omitempty" swaggertype:"object" extensions:"x-nullable"`
} //	@name	RecordPatchRequest

// ReviewRequest carries a reviewer's comment (required to return) or
// reason (required to reopen).
type ReviewRequest struct {
	Comment string `json:"comment,omitempty" example:"请补充演练照片"`
	Reason  string `json:"reason,omitempty" example:"参与人数填写有误"`
} //	@name	ReviewRequest

// ReturnRequest is the body of a return, as documented: the comment the
// author gets back. The handler reads it into ReviewRequest (same JSON).
type ReturnRequest struct {
	Comment string `json:"comment" validate:"required" example:"请补充演练照片"`
} //	@name	ReturnRequest

// ReopenRequest is the body of a reopen, as documented: why an approved
// record goes back. The handler reads it into ReviewRequest (same JSON).
type ReopenRequest struct {
	Reason string `json:"reason" validate:"required" example:"参与人数填写有误"`
} //	@name	ReopenRequest

// BatchRequest carries up to 100 records queued offline.
type BatchRequest struct {
	Records []json.RawMessage `json:"records" validate:"required" swaggertype:"array,object"`
} //	@name	RecordBatchRequest

// BatchItem is the outcome for one record of a batch.
type BatchItem struct {
	ClientID string         `json:"client_id" validate:"required" example:"3f1c9a52-8d7e-4b7a-9c11-2a6f0e5d4b21"`
	Status   string         `json:"status" validate:"required" enums:"created,duplicate,invalid" example:"created"`
	ID       string         `json:"id,omitempty" example:"06cwcqzf80qybsj9ekmhq256z4"`
	Version  int64          `json:"version,omitempty" example:"1"`
	Errors   []ProblemField `json:"errors,omitempty"`
} //	@name	RecordBatchItem

// BatchResponse answers a batch item by item, in order.
type BatchResponse struct {
	Results []BatchItem `json:"results" validate:"required"`
} //	@name	RecordBatchResponse

// WarningResponse is a plausibility finding shown to reviewers.
type WarningResponse struct {
	Field   string  `json:"field" validate:"required" example:"data.students"`
	Code    string  `json:"code" validate:"required" example:"above_students"`
	Message string  `json:"message" validate:"required" example:"超过学校在校学生数1800"`
	Limit   float64 `json:"limit,omitempty" example:"1800"`
} //	@name	RecordWarning

// ReviewResponse is the latest review decision.
type ReviewResponse struct {
	By      string `json:"by" validate:"required" example:"06cgg9r903hqd5ew944hmbd2sc"`
	Role    string `json:"role" validate:"required" example:"principal"`
	At      string `json:"at" validate:"required" format:"date-time" example:"2025-10-10T09:15:00+08:00"`
	Action  string `json:"action" validate:"required" enums:"approve,return,reopen" example:"approve"`
	Comment string `json:"comment,omitempty" example:"照片清晰，数据属实"`
} //	@name	RecordReview

// RecordResponse is one record. A withdrawn record in a sync list is a
// tombstone: id, client_id, status "withdrawn", deleted true and times.
type RecordResponse struct {
	ID              string `json:"id" validate:"required" example:"06cwcqzf80qybsj9ekmhq256z4"`
	ClientID        string `json:"client_id" example:"3f1c9a52-8d7e-4b7a-9c11-2a6f0e5d4b21"`
	Template        string `json:"template,omitempty" example:"safety_drill"`
	TemplateVersion int64  `json:"template_version,omitempty" example:"1"`
	OrgID           string `json:"org_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	AuthorID        string `json:"author_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1b"`
	// AuthorName is the author's name, left out when the author lies
	// outside the caller's scope.
	AuthorName  string            `json:"author_name,omitempty" example:"张老师"`
	AuthorRole  string            `json:"author_role,omitempty" example:"teacher"`
	OccurredOn  string            `json:"occurred_on,omitempty" format:"date" example:"2025-10-09"`
	EndOn       string            `json:"end_on,omitempty" format:"date" example:"2025-10-09"`
	Title       string            `json:"title,omitempty" example:"秋季消防疏散演练"`
	Description string            `json:"description,omitempty" example:"全校师生参加，用时3分20秒"`
	Data        json.RawMessage   `json:"data,omitempty" swaggertype:"object"`
	Attachments []string          `json:"attachments,omitempty" example:"06cwcqgtg2avvsh7jkzf3xrmkm"`
	Status      string            `json:"status" validate:"required" enums:"draft,submitted,approved,returned,withdrawn" example:"submitted"`
	Warnings    []WarningResponse `json:"warnings"`
	Review      *ReviewResponse   `json:"review,omitempty"`
	// ReviewerName is the name of review.by, left out without a review
	// or when the reviewer lies outside the caller's scope.
	ReviewerName string `json:"reviewer_name,omitempty" example:"王校长"`
	Deleted      bool   `json:"deleted,omitempty"`
	Version      int64  `json:"version" validate:"required" example:"1"`
	CreatedAt    string `json:"created_at,omitempty" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	UpdatedAt    string `json:"updated_at" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	DeletedAt    string `json:"deleted_at,omitempty" format:"date-time"`
} //	@name	Record

// RecordList is one page of records.
type RecordList struct {
	Items      []any  `json:"items" validate:"required" swaggertype:"array,object"`
	NextCursor string `json:"next_cursor" validate:"required"`
} //	@name	RecordList

// ChangeResponse is one field an event changed.
type ChangeResponse struct {
	Field  string `json:"field" validate:"required" example:"data.students"`
	Before any    `json:"before"`
	After  any    `json:"after"`
} //	@name	RecordChange

// EventResponse is one entry of a record's audit history.
type EventResponse struct {
	Version int64  `json:"version" validate:"required" example:"2"`
	At      string `json:"at" validate:"required" format:"date-time" example:"2025-10-10T09:15:00+08:00"`
	ActorID string `json:"actor_id" validate:"required" example:"06cgg9r903hqd5ew944hmbd2sc"`
	// ActorName is the actor's name, left out when the actor lies outside
	// the caller's scope (a district admin, seen by a school).
	ActorName string           `json:"actor_name,omitempty" example:"王校长"`
	ActorRole string           `json:"actor_role" validate:"required" example:"principal"`
	Action    string           `json:"action" validate:"required" enums:"create,edit,submit,approve,return,reopen,withdraw" example:"approve"`
	Comment   string           `json:"comment,omitempty"`
	Changes   []ChangeResponse `json:"changes" validate:"required"`
} //	@name	RecordEvent

// HistoryList is one page of a record's history, oldest first.
type HistoryList struct {
	Items      []EventResponse `json:"items" validate:"required"`
	NextCursor string          `json:"next_cursor" validate:"required"`
} //	@name	RecordHistory

// record presents r; names maps user ids to names (authors, reviewers).
func (p presenter) record(r services.Record, l lang, names map[string]string) RecordResponse {
	if r.Status == services.StatusWithdrawn {
		return RecordResponse{ID: r.ID, ClientID: r.ClientID, Status: string(r.Status), Deleted: true,
			Warnings: []WarningResponse{}, Version: r.Version, UpdatedAt: p.time(r.UpdatedAt), DeletedAt: p.time(r.DeletedAt)}
	}
	out := RecordResponse{ID: r.ID, ClientID: r.ClientID, Template: r.Template, TemplateVersion: r.TemplateVersion,
		OrgID: r.OrgID, AuthorID: r.AuthorID, AuthorName: names[r.AuthorID], AuthorRole: string(r.AuthorRole), OccurredOn: r.OccurredOn, EndOn: r.EndOn,
		Title: r.Title, Description: r.Description, Data: r.Data, Attachments: r.Attachments, Status: string(r.Status),
		Warnings: make([]WarningResponse, 0, len(r.Warnings)), Version: r.Version,
		CreatedAt: p.time(r.CreatedAt), UpdatedAt: p.time(r.UpdatedAt)}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage("{}")
	}
	for _, w := range r.Warnings {
		out.Warnings = append(out.Warnings, WarningResponse{Field: w.Field, Code: w.Code,
			Message: message(l, w.Code, map[string]any{"limit": w.Limit}), Limit: w.Limit})
	}
	if r.Review.Action != "" {
		out.Review = &ReviewResponse{By: r.Review.By, Role: string(r.Review.Role), At: p.time(r.Review.At),
			Action: r.Review.Action, Comment: r.Review.Comment}
		out.ReviewerName = names[r.Review.By]
	}
	return out
}

// recordNames looks up the authors and reviewers of rs inside the
// caller's scope, each once; nothing when pick leaves names out.
func (h *Records) recordNames(c *gin.Context, rs []services.Record, pick map[string]bool) (map[string]string, error) {
	if pick != nil && !pick["author_name"] && !pick["reviewer_name"] {
		return nil, nil
	}
	ids := make([]string, 0, 2*len(rs))
	for _, r := range rs {
		if r.Status == services.StatusWithdrawn {
			continue
		}
		if pick == nil || pick["author_name"] {
			ids = append(ids, r.AuthorID)
		}
		if r.Review.Action != "" && (pick == nil || pick["reviewer_name"]) {
			ids = append(ids, r.Review.By)
		}
	}
	return h.records.UserNames(c.Request.Context(), caller(c), ids...)
}

// filterPattern is what template keys and ids look like.
var filterPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// recordFields are the names fields= may pick.
var recordFields = map[string]bool{"id": true, "client_id": true, "template": true, "template_version": true,
	"org_id": true, "author_id": true, "author_name": true, "author_role": true, "occurred_on": true, "end_on": true, "title": true,
	"description": true, "data": true, "attachments": true, "status": true, "warnings": true, "review": true,
	"reviewer_name": true, "deleted": true, "version": true, "created_at": true, "updated_at": true, "deleted_at": true}

// parseFields reads fields=a,b,c; id, status and version always come.
func parseFields(c *gin.Context) (map[string]bool, error) {
	s := c.Query("fields")
	if s == "" {
		return nil, nil
	}
	pick := map[string]bool{"id": true, "status": true, "version": true}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !recordFields[f] {
			return nil, badField("records.list", "fields", "enum", map[string]any{"options": "id, title, status, ..."})
		}
		pick[f] = true
	}
	return pick, nil
}

// project keeps the picked fields of a response.
func project(v any, pick map[string]bool) (any, error) {
	if pick == nil {
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if !pick[k] {
			delete(m, k)
		}
	}
	return m, nil
}

// Record list cursors: "id:<id>" for the newest-first list, "u:<ms>:<id>"
// for a sync list.
func encodeSyncCursor(r services.Record) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("u:%d:%s", r.UpdatedAt.UnixMilli(), r.ID)))
}

func decodeRecordCursor(s string, sync bool) (services.RecordCursor, error) {
	if !sync {
		id, err := decodeCursor(s)
		return services.RecordCursor{ID: id}, err
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 200 {
		return services.RecordCursor{}, errors.New("bad cursor")
	}
	rest, ok := strings.CutPrefix(string(b), "u:")
	ms, id, ok2 := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || !ok2 || err != nil || id == "" {
		return services.RecordCursor{}, errors.New("bad cursor")
	}
	return services.RecordCursor{UpdatedAt: time.UnixMilli(n).UTC(), ID: id}, nil
}

// respondRecord answers one record with its ETag.
func (h *Records) respondRecord(c *gin.Context, status int, r services.Record) {
	c.Header("ETag", etag(r.Version))
	// The change is made: a failed name look-up leaves names out rather
	// than failing the answer.
	names, _ := h.recordNames(c, []services.Record{r}, nil)
	c.JSON(status, h.out.record(r, negotiate(c.GetHeader("Accept-Language")), names))
}

// Create submits a record.
//
//	@Summary		提交记录 Submit a record
//	@Description	按模板的当前版本保存一条活动记录，归属填报人所在学校（或调用者管辖范围内的 org_id）。client_id（手机端生成的 UUID）使重试安全：相同 client_id 且内容相同时返回首次创建的记录（200），内容不同时返回 409。数据按模板字段校验；合理性检查的发现以 warnings 返回。status 为 draft（草稿）或 submitted（已提交，默认）。Stores an activity record written against the current version of a template, for the author's school (or org_id inside the caller's scope). client_id (a UUID made by the phone) makes retries safe: the same client_id with the same content returns the first record (200), with other content 409. Data is checked against the template's fields; plausibility findings come back as warnings. status is draft or submitted (default).
//	@ID				createRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body									body		RecordRequest	true	"The record"
//	@Param			Idempotency-Key							header		string			false	"Makes a retry safe"
//	@Success		200										{object}	RecordResponse	"a retry: the record stored first"
//	@Success		201										{object}	RecordResponse
//	@Header			200										{string}	ETag		"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201										{string}	ETag		"Version of what was created"
//	@Header			200										{string}	Location	"URL of what was created"
//	@Header			201										{string}	Location	"URL of what was created"
//	@Failure		400,401,403,404,409,413,415,422,429,503	{object}	Problem
//	@Header			409										{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			429										{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503										{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records [post]
func (h *Records) Create(c *gin.Context) {
	var req RecordRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	r, isNew, err := h.records.Create(c.Request.Context(), caller(c), req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	if !isNew {
		h.respondRecord(c, http.StatusOK, r)
		return
	}
	c.Header("Location", "/api/v1/records/"+r.ID)
	h.respondRecord(c, http.StatusCreated, r)
}

// Batch submits records queued offline.
//
//	@Summary		批量提交记录 Submit records in a batch
//	@Description	保存手机离线暂存的至多 100 条记录，并按顺序逐条应答：created（已创建）、duplicate（此前的尝试已保存：client_id 相同）或 invalid（附字段错误）。一条出错不会阻塞或丢失其他条目。每条都需要 client_id。Stores up to 100 records a phone queued offline and answers item by item, in order: created, duplicate (stored by an earlier attempt: same client_id) or invalid with its field errors. One bad item never blocks or loses the others. Every item needs a client_id.
//	@ID				createRecordBatch
//	@Tags			records
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body									body		BatchRequest{records=[]RecordRequest}	true	"The records"
//	@Param			Idempotency-Key							header		string									false	"Makes a retry safe"
//	@Success		200										{object}	BatchResponse
//	@Failure		400,401,403,404,409,413,415,422,429,503	{object}	Problem
//	@Header			409										{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			429										{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503										{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records:batch [post]
func (h *Records) Batch(c *gin.Context) {
	var req BatchRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	l := negotiate(c.GetHeader("Accept-Language"))
	if len(req.Records) == 0 {
		respondError(c, services.Invalid("records.batch", services.Field("records", "required")))
		return
	}
	if len(req.Records) > services.MaxBatchRecords {
		respondError(c, services.Invalid("records.batch", services.Field("records", "too_many", "max", services.MaxBatchRecords)))
		return
	}
	// A batch costs what its records would cost sent one by one.
	if err := charge(c, h.budget, len(req.Records)); err != nil {
		respondError(c, err)
		return
	}
	// Each item is decoded on its own, so a malformed one is reported as
	// invalid instead of failing the whole batch.
	out := BatchResponse{Results: make([]BatchItem, len(req.Records))}
	var ins []services.RecordInput
	var at []int
	for i, raw := range req.Records {
		var item RecordRequest
		if err := decodeItem(raw, &item); err != nil {
			var se *services.Error
			errors.As(err, &se)
			out.Results[i] = BatchItem{ClientID: clientIDOf(raw), Status: string(services.BatchInvalid), Errors: h.fields(l, se)}
			continue
		}
		ins = append(ins, item.input())
		at = append(at, i)
	}
	if len(ins) > 0 {
		res, err := h.records.CreateBatch(c.Request.Context(), caller(c), ins)
		if err != nil {
			respondError(c, err)
			return
		}
		for j, r := range res {
			item := BatchItem{ClientID: r.ClientID, Status: string(r.Status), ID: r.Record.ID, Version: r.Record.Version}
			for _, fe := range r.Errors {
				item.Errors = append(item.Errors, ProblemField{Field: fe.Field, Code: fe.Code, Message: message(l, fe.Code, fe.Args)})
			}
			out.Results[at[j]] = item
		}
	}
	c.JSON(http.StatusOK, out)
}

func (h *Records) fields(l lang, se *services.Error) []ProblemField {
	if se == nil {
		return []ProblemField{{Field: "body", Code: "syntax", Message: message(l, "syntax", nil)}}
	}
	var out []ProblemField
	for _, fe := range se.Fields {
		out = append(out, ProblemField{Field: fe.Field, Code: fe.Code, Message: message(l, fe.Code, fe.Args)})
	}
	return out
}

// decodeItem decodes one batch item as strictly as a single create.
func decodeItem(raw json.RawMessage, dst *RecordRequest) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return services.Invalid("records.batch", services.Field(field, "type", "expected", jsonKind(typeErr.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return services.Invalid("records.batch", services.Field(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown"))
	}
	return services.Invalid("records.batch", services.Field("body", "syntax"))
}

// clientIDOf digs the client id out of an item that did not decode.
func clientIDOf(raw json.RawMessage) string {
	var v struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(raw, &v)
	if len(v.ClientID) > 64 {
		return ""
	}
	return v.ClientID
}

// Get returns a record.
//
//	@Summary		记录详情 Get a record
//	@Description	返回调用者有权查看的一条记录：教师可看本人的，校长可看本校的，管理员可看本辖区的；其他一律 404。响应带 ETag。Returns one record the caller may see: teachers their own, principals their school's, admins their subtree's; anything else is 404. Answers its ETag.
//	@ID				getRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id					path		string	true	"Record id"
//	@Success		200					{object}	RecordResponse
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id} [get]
func (h *Records) Get(c *gin.Context) {
	r, err := h.records.Get(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	h.respondRecord(c, http.StatusOK, r)
}

// recordQueryOf reads the record list's filters (template, org_id,
// author_id, status, from, to, data.<key>), shared by the list and the
// exports. Filters are bound as parameters in both stores; anything not
// shaped like a key or an id is refused before it gets near one.
func recordQueryOf(c *gin.Context, op string) (services.RecordQuery, error) {
	q := services.RecordQuery{Template: c.Query("template"), OrgID: c.Query("org_id"), AuthorID: c.Query("author_id"),
		From: c.Query("from"), To: c.Query("to")}
	if st := strings.Split(c.Query("status"), ","); len(st) > 1 {
		for _, s := range st {
			q.Statuses = append(q.Statuses, services.RecordStatus(strings.TrimSpace(s)))
		}
	} else {
		q.Status = services.RecordStatus(st[0])
	}
	for k, v := range c.Request.URL.Query() {
		if key, ok := strings.CutPrefix(k, "data."); ok {
			if q.Data == nil {
				q.Data = map[string]string{}
			}
			q.Data[key] = v[0]
		}
	}
	for _, f := range []struct{ name, val string }{{"template", q.Template}, {"org_id", q.OrgID}, {"author_id", q.AuthorID}} {
		if f.val != "" && !filterPattern.MatchString(f.val) {
			return q, badField(op, f.name, "format", nil)
		}
	}
	return q, nil
}

// List lists records.
//
//	@Summary		记录列表 List records
//	@Description	列出调用者有权查看的记录，按时间倒序，可按模板、状态、组织子树、填报人和发生日期筛选，也可按维度值筛选：每个键一个 data.<key>=<value>（data.kind=消防 保留 data 中 kind 为消防的记录；值为空则保留未填该键的记录）。带 updated_since 时，列表改为同步流：该时刻之后变更的所有记录，最早的变更在前，已撤回的记录以墓碑形式返回（deleted: true），便于手机保持本地副本同步。请从已持有的最新 updated_at 之前一分钟开始请求（顾及进行中的写入和时钟偏差）：每条都带版本号，重复无害。fields= 选择每条返回的字段。游标分页；并发插入时分页稳定。Lists the records the caller may see, newest first, filtered by template, status, org subtree, author and occurrence dates, and by dimension values: data.<key>=<value> per key (data.kind=消防 keeps records whose data has kind 消防; an empty value keeps records that leave the key out). With updated_since the list is a sync feed instead: every record changed after that instant, oldest change first, withdrawn ones as tombstones (deleted: true), so a phone can keep its copy in step. Ask from a minute before the newest updated_at already held (writes in flight and clock skew): items carry their version, so a repeat is harmless. fields= picks the fields of each item. Cursor-paginated; stable under concurrent inserts.
//	@ID				listRecords
//	@Tags			records
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			template			query		string	false	"Template key"
//	@Param			status				query		string	false	"Status, or several separated by commas (approved,submitted)"
//	@Param			org_id				query		string	false	"Only this org unit and its subtree"
//	@Param			author_id			query		string	false	"Only this author's records"
//	@Param			from				query		string	false	"Occurred on or after (YYYY-MM-DD)"					Format(date)
//	@Param			to					query		string	false	"Occurred on or before (YYYY-MM-DD)"				Format(date)
//	@Param			updated_since		query		string	false	"Sync feed: changes after this instant (RFC 3339)"	Format(date-time)
//	@Param			fields				query		string	false	"Comma-separated fields of each item (id, status and version always come)"
//	@Param			limit				query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor				query		string	false	"next_cursor of the previous page"
//	@Success		200					{object}	RecordList{items=[]RecordResponse}
//	@Failure		400,401,403,422,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records [get]
func (h *Records) List(c *gin.Context) {
	limit, err := limitOf(c)
	if err != nil {
		respondError(c, err)
		return
	}
	q, err := recordQueryOf(c, "records.list")
	if err != nil {
		respondError(c, err)
		return
	}
	q.Limit = limit
	if s := c.Query("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			respondError(c, badField("records.list", "updated_since", "timestamp", nil))
			return
		}
		q.Sync, q.UpdatedSince = true, t.UTC()
	}
	if s := c.Query("cursor"); s != "" {
		cur, err := decodeRecordCursor(s, q.Sync)
		if err != nil {
			respondError(c, badField("records.list", "cursor", "cursor", nil))
			return
		}
		q.After = cur
	}
	pick, err := parseFields(c)
	if err != nil {
		respondError(c, err)
		return
	}
	rs, err := h.records.List(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	names, err := h.recordNames(c, rs, pick)
	if err != nil {
		respondError(c, err)
		return
	}
	l := negotiate(c.GetHeader("Accept-Language"))
	out := RecordList{Items: make([]any, 0, len(rs))}
	for _, r := range rs {
		item, err := project(h.out.record(r, l, names), pick)
		if err != nil {
			respondError(c, err)
			return
		}
		out.Items = append(out.Items, item)
	}
	if n := len(rs); n > 0 && n >= limit {
		if q.Sync {
			out.NextCursor = encodeSyncCursor(rs[n-1])
		} else {
			out.NextCursor = encodeCursor(rs[n-1].ID)
		}
	}
	c.JSON(http.StatusOK, out)
}

// Update edits a record.
//
//	@Summary		修改记录 Edit a record
//	@Description	填报人修改草稿、已提交或已退回的记录（需 If-Match）。已通过的记录在审核人重新打开之前不可修改。状态、填报人、单位、模板版本和审核字段不能在此设置。The author edits a draft, submitted or returned record (If-Match required). Approved records are closed until a reviewer reopens them. Status, author, org, template version and review fields cannot be set here.
//	@ID				updateRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id												path		string				true	"Record id"
//	@Param			If-Match										header		string				true	"ETag of the version being edited"
//	@Param			body											body		RecordPatchRequest	true	"Fields to change"
//	@Success		200												{object}	RecordResponse
//	@Header			200												{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,409,412,413,415,422,428,429,503	{object}	Problem
//	@Header			429												{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503												{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id} [patch]
func (h *Records) Update(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req RecordPatchRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	r, err := h.records.Update(c.Request.Context(), caller(c), c.Param("id"), version, services.RecordPatch{
		OccurredOn: req.OccurredOn, EndOn: req.EndOn, Title: req.Title, Description: req.Description, Data: req.Data})
	if err != nil {
		respondError(c, err)
		return
	}
	h.respondRecord(c, http.StatusOK, r)
}

// Delete withdraws a record.
//
//	@Summary		撤回记录 Withdraw a record
//	@Description	撤回（软删除）尚未通过的记录；记录保留以备审计，并在同步列表中以墓碑形式出现。需 If-Match。Withdraws (soft-deletes) a record that is not approved; it is kept for audit and appears as a tombstone in sync lists. If-Match required.
//	@ID				deleteRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Param			id			path	string	true	"Record id"
//	@Param			If-Match	header	string	true	"ETag of the current version"
//	@Success		204
//	@Produce		application/problem+json
//	@Failure		400,401,403,404,409,412,428,429,503	{object}	Problem
//	@Header			429									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id} [delete]
func (h *Records) Delete(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	if err := h.records.Withdraw(c.Request.Context(), caller(c), c.Param("id"), version); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// review reads If-Match and the optional body of a review action.
func (h *Records) review(c *gin.Context, act func(p services.Principal, id string, version int64, req ReviewRequest) (services.Record, error)) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req ReviewRequest
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil && !isEmptyBody(err) {
			respondError(c, err)
			return
		}
	}
	r, err := act(caller(c), c.Param("id"), version, req)
	if err != nil {
		respondError(c, err)
		return
	}
	h.respondRecord(c, http.StatusOK, r)
}

// Submit sends a record to review.
//
//	@Summary		提交审核 Submit a record for review
//	@Description	填报人将草稿或已退回的记录提交审核。需 If-Match。The author submits a draft or returned record. If-Match required.
//	@ID				submitRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id									path		string	true	"Record id"
//	@Param			If-Match							header		string	true	"ETag of the current version"
//	@Success		200									{object}	RecordResponse
//	@Header			200									{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,409,412,428,429,503	{object}	Problem
//	@Header			429									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id}/submit [post]
func (h *Records) Submit(c *gin.Context) {
	h.review(c, func(p services.Principal, id string, v int64, _ ReviewRequest) (services.Record, error) {
		return h.records.Submit(c.Request.Context(), p, id, v)
	})
}

// Approve approves a record.
//
//	@Summary		审核通过记录 Approve a record
//	@Description	审核人通过已提交的记录：教师的记录由本校校长审核，校长的记录由区县审核。已通过的记录计入汇总。需 If-Match。The reviewer approves a submitted record: the school's principal for teachers' records, the district for principals'. Approved records count in totals. If-Match required.
//	@ID				approveRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id											path		string			true	"Record id"
//	@Param			If-Match									header		string			true	"ETag of the current version"
//	@Param			body										body		ReviewRequest	false	"Optional comment"
//	@Success		200											{object}	RecordResponse
//	@Header			200											{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,409,412,413,415,422,428,503	{object}	Problem
//	@Header			503											{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id}/approve [post]
func (h *Records) Approve(c *gin.Context) {
	h.review(c, func(p services.Principal, id string, v int64, req ReviewRequest) (services.Record, error) {
		return h.records.Approve(c.Request.Context(), p, id, v, req.Comment)
	})
}

// Return returns a record to its author.
//
//	@Summary		退回记录 Return a record
//	@Description	审核人将已提交的记录退回填报人，并附意见（必填）；区县管理员可退回本区县的任何记录。需 If-Match。A reviewer returns a submitted record to its author with a comment (required); a district admin may return any record in the district. If-Match required.
//	@ID				returnRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id											path		string			true	"Record id"
//	@Param			If-Match									header		string			true	"ETag of the current version"
//	@Param			body										body		ReturnRequest	true	"comment"
//	@Success		200											{object}	RecordResponse
//	@Header			200											{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,409,412,413,415,422,428,503	{object}	Problem
//	@Header			503											{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id}/return [post]
func (h *Records) Return(c *gin.Context) {
	h.review(c, func(p services.Principal, id string, v int64, req ReviewRequest) (services.Record, error) {
		return h.records.Return(c.Request.Context(), p, id, v, req.Comment)
	})
}

// Reopen reopens an approved record.
//
//	@Summary		重新打开已通过的记录 Reopen an approved record
//	@Description	审核人将已通过的记录移出汇总并退回填报人，须说明原因（必填）。需 If-Match。A reviewer takes an approved record back out of the totals and returns it to its author, with a reason (required). If-Match required.
//	@ID				reopenRecord
//	@Tags			records
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id											path		string			true	"Record id"
//	@Param			If-Match									header		string			true	"ETag of the current version"
//	@Param			body										body		ReopenRequest	true	"reason"
//	@Success		200											{object}	RecordResponse
//	@Header			200											{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,409,412,413,415,422,428,503	{object}	Problem
//	@Header			503											{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id}/reopen [post]
func (h *Records) Reopen(c *gin.Context) {
	h.review(c, func(p services.Principal, id string, v int64, req ReviewRequest) (services.Record, error) {
		return h.records.Reopen(c.Request.Context(), p, id, v, req.Reason)
	})
}

// History lists a record's audit history.
//
//	@Summary		记录变更历史 Record history
//	@Description	记录的每一次变更，最早的在前：操作人（id、角色，在调用者管辖范围内时还有姓名）、时间、操作类型，以及每个变更字段修改前后的值。已撤回的记录同样可查。Every change to a record, oldest first: who (id, role and, inside the caller's scope, name), when, which action, and each changed field before and after. Available for withdrawn records too.
//	@ID				recordHistory
//	@Tags			records
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id					path		string	true	"Record id"
//	@Param			limit				query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor				query		string	false	"next_cursor of the previous page"
//	@Success		200					{object}	HistoryList
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/records/{id}/history [get]
func (h *Records) History(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var after int64
	if pg.After != "" {
		if after, err = strconv.ParseInt(pg.After, 10, 64); err != nil {
			respondError(c, badField("records.history", "cursor", "cursor", nil))
			return
		}
	}
	evs, err := h.records.History(c.Request.Context(), caller(c), c.Param("id"), after, pg.Limit)
	if err != nil {
		respondError(c, err)
		return
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ActorID
	}
	names, err := h.records.UserNames(c.Request.Context(), caller(c), ids...)
	if err != nil {
		respondError(c, err)
		return
	}
	out := HistoryList{Items: make([]EventResponse, 0, len(evs))}
	for _, ev := range evs {
		e := EventResponse{Version: ev.Version, At: h.out.time(ev.At), ActorID: ev.ActorID, ActorName: names[ev.ActorID],
			ActorRole: string(ev.ActorRole),
			Action:    ev.Action, Comment: ev.Comment, Changes: make([]ChangeResponse, 0, len(ev.Changes))}
		for _, ch := range ev.Changes {
			e.Changes = append(e.Changes, ChangeResponse{Field: ch.Field, Before: ch.Before, After: ch.After})
		}
		out.Items = append(out.Items, e)
	}
	if n := len(evs); n > 0 {
		out.NextCursor = nextCursor(n, pg.Limit, strconv.FormatInt(evs[n-1].Version, 10))
	}
	c.JSON(http.StatusOK, out)
}
