package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Templates serves report templates (填报模板).
type Templates struct {
	templates *services.Templates
	out       presenter
}

// OptionSpec is one value of an enum field.
type OptionSpec struct {
	Value   string `json:"value" validate:"required" example:"消防"`
	Label   string `json:"label,omitempty" example:"消防"`
	LabelEN string `json:"label_en,omitempty" example:"Fire"`
} //	@name	TemplateOption

// FieldSpec is one field of a template, as sent and as returned.
type FieldSpec struct {
	Key       string       `json:"key" validate:"required" example:"students"`
	Label     string       `json:"label" validate:"required" example:"参与学生人次"`
	LabelEN   string       `json:"label_en,omitempty" example:"Students taking part"`
	Type      string       `json:"type" validate:"required" enums:"integer,number,text,enum,multi_enum,date,bool,attachments,people" example:"integer"`
	Required  bool         `json:"required,omitempty"`
	Unit      string       `json:"unit,omitempty" example:"人次"`
	Min       *float64     `json:"min,omitempty" example:"0"`
	Max       *float64     `json:"max,omitempty"`
	MaxLength int          `json:"max_length,omitempty"`
	Options   []OptionSpec `json:"options,omitempty"`
	Role      string       `json:"role,omitempty" enums:"measure,dimension,distinct" example:"measure"`
	Default   *float64     `json:"default,omitempty"`
	Check     string       `json:"check,omitempty" enums:"students,staff"`
	// Per names the numeric field (the occurrences, e.g. drills) the
	// check divides the value by before comparing.
	Per string `json:"per,omitempty" example:"drills"`
	// Aggregation of a measure: sum (default: activities add up), last
	// (a stock: each school's latest value in the period, summed over
	// schools: enrolment, staff), state (each school's latest value up to
	// the period's end, from any earlier day: a title held until
	// withdrawn).
	Aggregation string `json:"aggregation,omitempty" enums:"sum,last,state"`
} //	@name	TemplateField

// SummarySpec words the template's sentence in the work-summary draft
// (GET /api/v1/reports/summary).
type SummarySpec struct {
	// ZH is the sentence with placeholders in braces, filled from the
	// template's approved totals: a measure's key gives its total with the
	// unit as bureaus write it (312场次, 4.52万人次, 52.00万元); key.change
	// the change against the previous period (增加36场次, 减少2场次, 持平)
	// and key.previous the previous total; a dimension's key the breakdown
	// of its values (消防、地震、防汛等); dimension:measure each value with
	// its total (优秀班主任53名、先进班集体53名); a people or distinct
	// field's key a bare count; and scope (全区/全市/全校), name (the
	// template's name), records (approved records), school_rate (schools
	// covered), staff_rate (staff covered), indicators (the template's own
	// percent indicators). A clause (up to ， or ；) whose figure is empty
	// or 0 is left out; an empty breakdown leaves its clause. Empty: a
	// default sentence from the fields. An unknown placeholder is a 422
	// naming it.
	ZH string `json:"zh" example:"{scope}共开展{kind}应急疏散演练{drills}，参与学生{students}，较上年{drills.change}，学校覆盖率达{school_rate}。"`
} //	@name	TemplateSummary

// TemplateRequest creates a template (POST) or changes one (PATCH: omitted
// fields stay; key and owner_id cannot change).
type TemplateRequest struct {
	Key      string       `json:"key,omitempty" validate:"required" example:"sports_day"`
	OwnerID  string       `json:"owner_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Name     *string      `json:"name,omitempty" validate:"required" example:"校运会"`
	NameEN   *string      `json:"name_en,omitempty" example:"Sports day"`
	Category *string      `json:"category,omitempty" example:"activities"`
	Levels   *[]string    `json:"levels,omitempty" example:"school"`
	Active   *bool        `json:"active,omitempty"`
	Fields   *[]FieldSpec `json:"fields,omitempty" validate:"required"`
	Summary  *SummarySpec `json:"summary,omitempty"`
} //	@name	TemplateRequest

// TemplatePatch changes a template (PATCH): a property left out (or
// null) stays as it is; active: false retires it, "" is a value. Key and
// owner_id cannot change.
type TemplatePatch struct {
	Key      *string      `json:"key,omitempty" extensions:"x-nullable"`
	OwnerID  *string      `json:"owner_id,omitempty" extensions:"x-nullable" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Name     *string      `json:"name,omitempty" example:"校运会" extensions:"x-nullable"`
	NameEN   *string      `json:"name_en,omitempty" example:"Sports day" extensions:"x-nullable"`
	Category *string      `json:"category,omitempty" example:"activities" extensions:"x-nullable"`
	Levels   *[]string    `json:"levels,omitempty" example:"school" extensions:"x-nullable"`
	Active   *bool        `json:"active,omitempty" example:"false" extensions:"x-nullable"`
	Fields   *[]FieldSpec `json:"fields,omitempty" extensions:"x-nullable"`
	Summary  *SummarySpec `json:"summary,omitempty" extensions:"x-nullable"`
} //	@name	TemplatePatch

func (p TemplatePatch) request() TemplateRequest {
	return TemplateRequest{Key: deref(p.Key), OwnerID: deref(p.OwnerID), Name: p.Name, NameEN: p.NameEN, Category: p.Category,
		Levels: p.Levels, Active: p.Active, Fields: p.Fields, Summary: p.Summary}
}

// TemplateCopyRequest names the copy of a template.
type TemplateCopyRequest struct {
	Key     string  `json:"key" validate:"required" example:"safety_drill_chenghua"`
	OwnerID string  `json:"owner_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Name    *string `json:"name,omitempty" example:"应急疏散演练（成华区）"`
	NameEN  *string `json:"name_en,omitempty"`
} //	@name	TemplateCopyRequest

// TemplateResponse is one version of a template.
type TemplateResponse struct {
	Key      string      `json:"key" validate:"required" example:"safety_drill"`
	Version  int64       `json:"version" validate:"required" example:"1"`
	Name     string      `json:"name" validate:"required" example:"应急疏散演练"`
	NameEN   string      `json:"name_en,omitempty" example:"Emergency evacuation drill"`
	Category string      `json:"category,omitempty" example:"safety"`
	OwnerID  string      `json:"owner_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Levels   []string    `json:"levels" validate:"required" example:"school"`
	Active   bool        `json:"active" validate:"required"`
	Builtin  bool        `json:"builtin" validate:"required"`
	Fields   []FieldSpec `json:"fields" validate:"required"`
	// Summary is the sentence pattern of the work-summary draft; absent
	// when the template words a default one.
	Summary *SummarySpec `json:"summary,omitempty"`
	// Extensions lists the extensions merged in (GET of one template, as
	// the caller's unit sees it).
	Extensions []ExtensionRefResponse `json:"extensions,omitempty"`
	CreatedAt  string                 `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	UpdatedAt  string                 `json:"updated_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
} //	@name	Template

// TemplateList is one page of templates.
type TemplateList struct {
	Items      []TemplateResponse `json:"items" validate:"required"`
	NextCursor string             `json:"next_cursor" validate:"required"`
} //	@name	TemplateList

func (r TemplateRequest) input() services.TemplateInput {
	in := services.TemplateInput{Key: strings.TrimSpace(r.Key), OwnerID: r.OwnerID, Name: r.Name, NameEN: r.NameEN,
		Category: r.Category, Active: r.Active}
	if r.Summary != nil {
		in.Summary = &services.TemplateSummary{ZH: r.Summary.ZH}
	}
	if r.Levels != nil {
		levels := make([]services.OrgKind, len(*r.Levels))
		for i, l := range *r.Levels {
			levels[i] = services.OrgKind(l)
		}
		in.Levels = &levels
	}
	if r.Fields != nil {
		fs := make([]services.TemplateField, len(*r.Fields))
		for i, f := range *r.Fields {
			fs[i] = services.TemplateField{Key: f.Key, Label: f.Label, LabelEN: f.LabelEN, Type: services.FieldType(f.Type),
				Required: f.Required, Unit: f.Unit, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength,
				Role: services.FieldRole(f.Role), Default: f.Default, Check: f.Check, Per: f.Per, Aggregation: f.Aggregation}
			for _, o := range f.Options {
				fs[i].Options = append(fs[i].Options, services.Option{Value: o.Value, Label: o.Label, LabelEN: o.LabelEN})
			}
		}
		in.Fields = &fs
	}
	return in
}

func (p presenter) template(t services.Template) TemplateResponse {
	out := TemplateResponse{Key: t.Key, Version: t.Version, Name: t.Name, NameEN: t.NameEN, Category: t.Category,
		OwnerID: t.OwnerID, Levels: make([]string, len(t.Levels)), Active: t.Active, Builtin: t.Builtin,
		Fields: make([]FieldSpec, len(t.Fields)), CreatedAt: p.time(t.CreatedAt), UpdatedAt: p.time(t.UpdatedAt)}
	for i, l := range t.Levels {
		out.Levels[i] = string(l)
	}
	if t.Summary.ZH != "" {
		out.Summary = &SummarySpec{ZH: t.Summary.ZH}
	}
	for i, f := range t.Fields {
		fs := FieldSpec{Key: f.Key, Label: f.Label, LabelEN: f.LabelEN, Type: string(f.Type), Required: f.Required,
			Unit: f.Unit, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength, Role: string(f.Role), Default: f.Default, Check: f.Check, Per: f.Per, Aggregation: f.Aggregation}
		for _, o := range f.Options {
			fs.Options = append(fs.Options, OptionSpec{Value: o.Value, Label: o.Label, LabelEN: o.LabelEN})
		}
		out.Fields[i] = fs
	}
	return out
}

// notModified sets tag as the ETag and answers 304 when the client holds
// it; reference data may be cached by the client but must be revalidated.
func notModified(c *gin.Context, tag string) bool {
	c.Header("ETag", tag)
	c.Header("Cache-Control", "private, no-cache")
	for _, t := range strings.Split(c.GetHeader("If-None-Match"), ",") {
		if t = strings.TrimSpace(t); t == tag || t == "*" {
			c.Status(http.StatusNotModified)
			return true
		}
	}
	return false
}

// Create defines a template.
//
//	@Summary		创建模板 Create a template
//	@Description	区县管理员和市级管理员为下级学校定义填报模板：稳定的键名、名称、类别、适用的组织层级及其字段。字段的角色决定汇总如何使用它：统计量（integer 或 number）求和，维度（enum、multi_enum、bool）用于分组。定义逐字段校验。District and city admins define a report template for the schools below them: a stable key, names, category, the org levels it applies to and its fields. A field's role says what totals do with it: measures (integer or number) are summed, dimensions (enum, multi_enum, bool) are grouped by. Definitions are checked field by field.
//	@ID				createTemplate
//	@Tags			templates
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body							body		TemplateRequest	true	"The template"
//	@Param			Idempotency-Key					header		string			false	"Makes a retry safe"
//	@Success		201								{object}	TemplateResponse
//	@Success		200								{object}	TemplateResponse	"a retry with the same Idempotency-Key and body: the first answer again (Idempotent-Replayed: true)"
//	@Header			200								{string}	ETag				"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201								{string}	ETag				"Version of what was created"
//	@Header			200								{string}	Location			"URL of what was created"
//	@Header			201								{string}	Location			"URL of what was created"
//	@Failure		400,401,403,409,413,415,422,503	{object}	Problem
//	@Header			409								{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503								{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates [post]
func (h *Templates) Create(c *gin.Context) {
	var req TemplateRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	t, err := h.templates.Create(c.Request.Context(), caller(c), req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	created(c, "/api/v1/templates/"+t.Key, t.Version, h.out.template(t))
}

// Copy copies a template.
//
//	@Summary		复制模板 Copy a template
//	@Description	以调用者可见的模板（如内置模板）为基础新建模板，归属调用者本单位（或 owner_id）：区县借此调整模板目录，而不改变其他单位所用的模板。Makes a new template, owned by the caller's unit (or owner_id), from one the caller can see, such as a built-in one: how a district adapts the catalogue without changing it for everyone.
//	@ID				copyTemplate
//	@Tags			templates
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			key									path		string				true	"Template key"
//	@Param			body								body		TemplateCopyRequest	true	"Key and names of the copy"
//	@Param			Idempotency-Key						header		string				false	"Makes a retry safe"
//	@Success		201									{object}	TemplateResponse
//	@Success		200									{object}	TemplateResponse	"a retry with the same Idempotency-Key and body: the first answer again (Idempotent-Replayed: true)"
//	@Header			200									{string}	ETag				"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201									{string}	ETag				"Version of what was created"
//	@Header			200									{string}	Location			"URL of what was created"
//	@Header			201									{string}	Location			"URL of what was created"
//	@Failure		400,401,403,404,409,413,415,422,503	{object}	Problem
//	@Header			409									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates/{key}/copy [post]
func (h *Templates) Copy(c *gin.Context) {
	var req TemplateCopyRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	t, err := h.templates.Copy(c.Request.Context(), caller(c), c.Param("key"),
		services.TemplateInput{Key: strings.TrimSpace(req.Key), OwnerID: req.OwnerID, Name: req.Name, NameEN: req.NameEN})
	if err != nil {
		respondError(c, err)
		return
	}
	created(c, "/api/v1/templates/"+t.Key, t.Version, h.out.template(t))
}

// Get returns a template.
//
//	@Summary		模板详情 Get a template
//	@Description	返回模板的当前版本及其字段，即调用者所在单位看到的样子：包含其区县和市增加的选项和字段（扩展），并在 extensions 中列出。手机端会缓存：响应带 ETag（随模板及其扩展而变），If-None-Match 匹配时返回 304。Returns the current version of a template with its fields, as the caller's unit sees it: with the options and fields its district and city added (extensions), listed in extensions. Phones cache it: answers its ETag (which changes with the template and with its extensions) and 304 to a matching If-None-Match.
//	@ID				getTemplate
//	@Tags			templates
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			key				path		string	true	"Template key"
//	@Param			If-None-Match	header		string	false	"ETag of a cached copy"
//	@Success		200				{object}	TemplateResponse
//	@Success		304
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304					{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates/{key} [get]
func (h *Templates) Get(c *gin.Context) {
	t, refs, err := h.templates.For(c.Request.Context(), caller(c), c.Param("key"))
	if err != nil {
		respondError(c, err)
		return
	}
	if notModified(c, extendedETag(t.Version, refs)) {
		return
	}
	out := h.out.template(t)
	for _, r := range refs {
		out.Extensions = append(out.Extensions, ExtensionRefResponse{OrgID: r.Owner, Version: r.Version})
	}
	c.JSON(http.StatusOK, out)
}

// extendedETag is the ETag of a template as a unit sees it: "v<version>",
// and the extension versions after a "+" (If-Match reads the version).
func extendedETag(version int64, refs []services.ExtensionRef) string {
	tag := etag(version)
	if len(refs) == 0 {
		return tag
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(tag, `"`))
	for _, r := range refs {
		fmt.Fprintf(&b, "+%s.%d", r.Owner, r.Version)
	}
	return b.String() + `"`
}

// ExtensionRefResponse names an extension version a template or record
// includes.
type ExtensionRefResponse struct {
	OrgID   string `json:"org_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Version int64  `json:"version" validate:"required" example:"2"`
} //	@name	ExtensionRef

// ExtensionRequest is a bureau's whole extension of a template: options
// added to its enum fields, by field key, fields added, and its own
// wording of the template's sentence in the work-summary draft.
type ExtensionRequest struct {
	Options map[string][]OptionSpec `json:"options,omitempty"`
	Fields  []FieldSpec             `json:"fields,omitempty"`
	Summary *SummarySpec            `json:"summary,omitempty"`
} //	@name	ExtensionRequest

// ExtensionResponse is a bureau's extension of a template.
type ExtensionResponse struct {
	Template  string                  `json:"template" validate:"required" example:"honor_award"`
	OrgID     string                  `json:"org_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Version   int64                   `json:"version" validate:"required" example:"1"`
	Options   map[string][]OptionSpec `json:"options" validate:"required"`
	Fields    []FieldSpec             `json:"fields" validate:"required"`
	Summary   *SummarySpec            `json:"summary,omitempty"`
	UpdatedAt string                  `json:"updated_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
} //	@name	TemplateExtension

func (p presenter) extension(e services.TemplateExtension) ExtensionResponse {
	out := ExtensionResponse{Template: e.Template, OrgID: e.OwnerID, Version: e.Version, Options: map[string][]OptionSpec{},
		Fields: p.template(services.Template{Fields: e.Fields}).Fields, UpdatedAt: p.time(e.UpdatedAt)}
	if e.Summary.ZH != "" {
		out.Summary = &SummarySpec{ZH: e.Summary.ZH}
	}
	for k, opts := range e.Options {
		for _, o := range opts {
			out.Options[k] = append(out.Options[k], OptionSpec{Value: o.Value, Label: o.Label, LabelEN: o.LabelEN})
		}
	}
	return out
}

// Extension returns the caller's unit's extension of a template.
//
//	@Summary		本单位的模板扩展 My unit's extension of a template
//	@Description	区县、市教育局为本辖区在模板上增加的选项和字段（保留模板键名，数据仍为同一序列）。The options and fields the caller's district or city added to a template for its own subtree, keeping the template's key so the series stays one. 404 when it has none.
//	@ID				getTemplateExtension
//	@Tags			templates
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			key					path		string	true	"Template key"
//	@Success		200					{object}	ExtensionResponse
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates/{key}/extension [get]
func (h *Templates) Extension(c *gin.Context) {
	e, err := h.templates.Extension(c.Request.Context(), caller(c), c.Param("key"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(e.Version))
	c.JSON(http.StatusOK, h.out.extension(e))
}

// Extend stores the caller's unit's extension of a template.
//
//	@Summary		扩展模板 Extend a template for my district
//	@Description	区县、市教育局管理员为本辖区扩展模板：在枚举字段上增加选项（如表彰类别“诚信好少年”、校舍建设类型“旱厕改造”），或增加字段；不能修改已有字段。District and city admins extend a template they can see, for their own subtree, keeping its key: options added to enum fields, fields added; existing fields never change. The body is the whole extension: a new version replaces the last (records keep the version they were written against). Creating one needs no If-Match; changing it needs the extension's ETag. Schools below see the merged definition; a city's totals show a district's own options as their own rows.
//	@ID				extendTemplate
//	@Tags			templates
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			key									path		string				true	"Template key"
//	@Param			If-Match							header		string				false	"ETag of the extension being changed"
//	@Param			body								body		ExtensionRequest	true	"The extension"
//	@Success		200									{object}	ExtensionResponse
//	@Header			200									{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,412,413,415,422,503	{object}	Problem
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates/{key}/extension [put]
func (h *Templates) Extend(c *gin.Context) {
	var req ExtensionRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	var version int64
	if c.GetHeader("If-Match") != "" {
		v, err := ifMatch(c)
		if err != nil {
			respondError(c, err)
			return
		}
		version = v
	}
	in := services.ExtensionInput{Options: map[string][]services.Option{}}
	for k, opts := range req.Options {
		for _, o := range opts {
			in.Options[k] = append(in.Options[k], services.Option{Value: o.Value, Label: o.Label, LabelEN: o.LabelEN})
		}
	}
	if len(req.Fields) > 0 {
		fields := TemplateRequest{Fields: &req.Fields}.input().Fields
		in.Fields = *fields
	}
	if req.Summary != nil {
		in.Summary.ZH = req.Summary.ZH
	}
	e, err := h.templates.Extend(c.Request.Context(), caller(c), c.Param("key"), version, in)
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(e.Version))
	c.JSON(http.StatusOK, h.out.extension(e))
}

// Version returns one version of a template.
//
//	@Summary		模板的某一版本 Get a template version
//	@Description	返回模板在某一版本时的定义：即记录填写时所依据的表单（记录的 template_version）。版本永不改变，可以永久缓存。Returns the template as it was at one version: the form a record was written against (its template_version). Versions never change, so they may be cached for good.
//	@ID				getTemplateVersion
//	@Tags			templates
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			key				path		string	true	"Template key"
//	@Param			version			path		int		true	"Version"
//	@Success		200				{object}	TemplateResponse
//	@Param			If-None-Match	header		string	false	"ETag of a cached copy: 304 when it is still current"
//	@Success		304
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304					{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates/{key}/versions/{version} [get]
func (h *Templates) Version(c *gin.Context) {
	v, err := strconv.ParseInt(c.Param("version"), 10, 64)
	if err != nil || v < 1 {
		respondError(c, badField("templates.version", "version", "min", map[string]any{"min": 1}))
		return
	}
	t, err := h.templates.Version(c.Request.Context(), caller(c), c.Param("key"), v)
	if err != nil {
		respondError(c, err)
		return
	}
	if notModified(c, etag(t.Version)) {
		return
	}
	c.JSON(http.StatusOK, h.out.template(t))
}

// List lists templates.
//
//	@Summary		模板列表 List templates
//	@Description	按键名顺序列出调用者可见的模板：内置模板目录、调用者所在区县和市的模板，以及（管理员）其下级单位定义的模板。手机端会缓存列表：响应带 ETag，If-None-Match 匹配时返回 304。Lists the templates the caller can see, in key order: the built-in catalogue, those of the caller's district and city, and (for admins) those defined below them. Phones cache the list: answers an ETag and 304 to a matching If-None-Match.
//	@ID				listTemplates
//	@Tags			templates
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			category		query		string	false	"Only this category"
//	@Param			active			query		bool	false	"Only active (true) or inactive (false) templates"
//	@Param			limit			query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor			query		string	false	"next_cursor of the previous page"
//	@Param			If-None-Match	header		string	false	"ETag of a cached copy"
//	@Success		200				{object}	TemplateList
//	@Success		304
//	@Header			200				{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304				{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates [get]
func (h *Templates) List(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	q := services.TemplateQuery{Category: c.Query("category"), Page: pg}
	if s := c.Query("active"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			respondError(c, badField("templates.list", "active", "type", map[string]any{"expected": "boolean"}))
			return
		}
		q.Active = &b
	}
	ts, err := h.templates.List(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	out := TemplateList{Items: make([]TemplateResponse, 0, len(ts))}
	sum := sha256.New()
	for _, t := range ts {
		out.Items = append(out.Items, h.out.template(t))
		sum.Write([]byte(t.Key + "@" + strconv.FormatInt(t.Version, 10) + "\n"))
	}
	if len(ts) > 0 {
		out.NextCursor = nextCursor(len(ts), pg.Limit, ts[len(ts)-1].Key)
	}
	if notModified(c, `W/"`+hex.EncodeToString(sum.Sum(nil))[:32]+`"`) {
		return
	}
	c.JSON(http.StatusOK, out)
}

// Update changes a template.
//
//	@Summary		修改模板 Change a template
//	@Description	保存模板的新版本（需 If-Match）。记录保留其填写时所依据的版本并保持有效；删除字段或选项不会破坏已有记录。字段类型不可更改。active=false 停用模板，不再用于新记录。Stores a new version of the template (If-Match required). Records keep the version they were written against and stay valid; removing a field or an option never breaks them. A field cannot change its type. active=false retires the template for new records.
//	@ID				updateTemplate
//	@Tags			templates
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			key										path		string			true	"Template key"
//	@Param			If-Match								header		string			true	"ETag of the version being changed"
//	@Param			body									body		TemplatePatch	true	"Fields to change"
//	@Success		200										{object}	TemplateResponse
//	@Header			200										{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,412,413,415,422,428,503	{object}	Problem
//	@Header			503										{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/templates/{key} [patch]
func (h *Templates) Update(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var patch TemplatePatch
	if err := bindJSON(c, &patch); err != nil {
		respondError(c, err)
		return
	}
	req := patch.request()
	var v services.Validation
	if req.Key != "" {
		v.Add("key", "immutable")
	}
	if req.OwnerID != "" {
		v.Add("owner_id", "immutable")
	}
	if err := v.Err("templates.update"); err != nil {
		respondError(c, err)
		return
	}
	t, err := h.templates.Update(c.Request.Context(), caller(c), c.Param("key"), version, req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(t.Version))
	c.JSON(http.StatusOK, h.out.template(t))
}
