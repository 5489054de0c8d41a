package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Orgs serves the organisation tree.
type Orgs struct {
	orgs *services.Orgs
	out  presenter
}

// OrgRequest creates or changes an org unit. On PATCH, omitted fields stay
// as they are; kind and parent_id cannot change.
type OrgRequest struct {
	Kind     string    `json:"kind,omitempty" validate:"required" enums:"city,district,school" example:"school"`
	Name     *string   `json:"name,omitempty" validate:"required" example:"成华区实验小学"`
	ParentID string    `json:"parent_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Code     *string   `json:"code,omitempty" example:"2151010001"`
	Stages   *[]string `json:"stages,omitempty" example:"小学"`
	Students *int      `json:"students,omitempty" example:"1800"`
	Staff    *int      `json:"staff,omitempty" example:"120"`
} //	@name	OrgRequest

// OrgPatch changes an org unit (PATCH): a property left out (or null)
// stays as it is; false, 0 and "" are values like any other.
type OrgPatch struct {
	Kind     *string   `json:"kind,omitempty" enums:"city,district,school" extensions:"x-nullable"`
	Name     *string   `json:"name,omitempty" example:"成华区实验小学" extensions:"x-nullable"`
	ParentID *string   `json:"parent_id,omitempty" extensions:"x-nullable" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Code     *string   `json:"code,omitempty" example:"2151010001" extensions:"x-nullable"`
	Stages   *[]string `json:"stages,omitempty" example:"小学" extensions:"x-nullable"`
	Students *int      `json:"students,omitempty" example:"0" extensions:"x-nullable"`
	Staff    *int      `json:"staff,omitempty" example:"120" extensions:"x-nullable"`
} //	@name	OrgPatch

func (p OrgPatch) input() services.OrgInput {
	return OrgRequest{Kind: deref(p.Kind), Name: p.Name, ParentID: deref(p.ParentID), Code: p.Code, Stages: p.Stages,
		Students: p.Students, Staff: p.Staff}.input()
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (r OrgRequest) input() services.OrgInput {
	return services.OrgInput{Kind: services.OrgKind(r.Kind), Name: r.Name, ParentID: r.ParentID, Code: r.Code,
		Stages: r.Stages, Students: r.Students, Staff: r.Staff}
}

// OrgList is one page of org units.
type OrgList struct {
	Items      []OrgResponse `json:"items" validate:"required"`
	NextCursor string        `json:"next_cursor" validate:"required"`
	// Total counts every match when count=true was asked.
	Total *int64 `json:"total,omitempty" example:"52"`
} //	@name	OrgList

// OrgTreeNode is an org unit with its children.
type OrgTreeNode struct {
	OrgResponse
	Children []OrgTreeNode `json:"children" validate:"required"`
} //	@name	OrgTreeNode

// OrgTree is the part of the tree the caller can see.
type OrgTree struct {
	Roots []OrgTreeNode `json:"roots" validate:"required"`
} //	@name	OrgTree

// Create adds an org unit.
//
//	@Summary		创建组织单位 Create an org unit
//	@Description	在调用者管辖范围内新增市（系统管理员）、市下的区县或区县下的学校。学校可带 10 位全国学校标识码、学段和人数。Adds a city (sysadmin), a district under a city, or a school under a district, inside the caller's scope. Schools may carry their 10-digit national school code, stages and headcounts.
//	@ID				createOrg
//	@Tags			orgs
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body								body		OrgRequest	true	"The unit"
//	@Param			Idempotency-Key						header		string		false	"Makes a retry safe: the same key and body within 24 h replay the first answer (200) instead of creating again"
//	@Success		201									{object}	OrgResponse
//	@Success		200									{object}	OrgResponse	"a retry with the same Idempotency-Key and body: the first answer again (Idempotent-Replayed: true)"
//	@Header			200									{string}	ETag		"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201									{string}	ETag		"Version of what was created"
//	@Header			200									{string}	Location	"URL of what was created"
//	@Header			201									{string}	Location	"URL of what was created"
//	@Failure		400,401,403,404,409,413,415,422,503	{object}	Problem
//	@Header			409									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs [post]
func (h *Orgs) Create(c *gin.Context) {
	var req OrgRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	o, err := h.orgs.Create(c.Request.Context(), caller(c), req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	created(c, "/api/v1/orgs/"+o.ID, o.Version, h.out.org(o))
}

// Get returns one org unit.
//
//	@Summary		组织单位详情 Get an org unit
//	@Description	返回调用者管辖范围内的一个单位；范围外的单位返回 404。响应带 ETag，If-None-Match 匹配时返回 304。Returns one unit inside the caller's scope; units outside it are 404. Answers its ETag, and 304 to a matching If-None-Match.
//	@ID				getOrg
//	@Tags			orgs
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id				path		string	true	"Org id"
//	@Param			If-None-Match	header		string	false	"ETag of a cached copy"
//	@Success		200				{object}	OrgResponse
//	@Success		304
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304					{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs/{id} [get]
func (h *Orgs) Get(c *gin.Context) {
	o, err := h.orgs.Get(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	tag := etag(o.Version)
	c.Header("ETag", tag)
	if c.GetHeader("If-None-Match") == tag {
		c.Header("Cache-Control", "private, no-cache")
		c.Status(http.StatusNotModified)
		return
	}
	c.JSON(http.StatusOK, h.out.org(o))
}

// List lists org units.
//
//	@Summary		组织单位列表 List org units
//	@Description	按创建顺序列出调用者管辖范围内的单位，可按上级单位、类型或学校标识码筛选；游标分页。Lists the units inside the caller's scope in creation order, filtered by parent, kind or school code; cursor-paginated.
//	@ID				listOrgs
//	@Tags			orgs
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			parent_id		query		string	false	"Only children of this unit"
//	@Param			kind			query		string	false	"city, district or school"	Enums(city, district, school)
//	@Param			code			query		string	false	"National school code"
//	@Param			limit			query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor			query		string	false	"next_cursor of the previous page"
//	@Param			count			query		bool	false	"Also count every match (total)"
//	@Success		200				{object}	OrgList
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs [get]
func (h *Orgs) List(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	kind := services.OrgKind(c.Query("kind"))
	if kind != "" && !kind.Valid() {
		respondError(c, badField("orgs.list", "kind", "enum", map[string]any{"options": "city, district, school"}))
		return
	}
	count, err := wantCount(c)
	if err != nil {
		respondError(c, err)
		return
	}
	q := services.OrgQuery{ParentID: c.Query("parent_id"), Kind: kind, Code: c.Query("code"), Page: pg}
	orgs, err := h.orgs.List(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	out := OrgList{Items: make([]OrgResponse, 0, len(orgs))}
	if count {
		n, err := h.orgs.Count(c.Request.Context(), caller(c), q)
		if err != nil {
			respondError(c, err)
			return
		}
		out.Total = &n
	}
	for _, o := range orgs {
		out.Items = append(out.Items, h.out.org(o))
	}
	if len(orgs) > 0 {
		out.NextCursor = nextCursor(len(orgs), pg.Limit, orgs[len(orgs)-1].ID)
	}
	c.JSON(http.StatusOK, out)
}

// Tree returns the caller's part of the tree.
//
//	@Summary		组织机构树 Org tree
//	@Description	以树形返回调用者管辖范围内（或 root 以下）的单位。属于参考数据：响应带 ETag，If-None-Match 匹配时返回 304。Returns the units inside the caller's scope (or below root) as a tree. Reference data: answers an ETag and 304 to a matching If-None-Match.
//	@ID				getOrgTree
//	@Tags			orgs
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			root			query		string	false	"Root unit (default: the caller's own)"
//	@Param			If-None-Match	header		string	false	"ETag of a cached copy"
//	@Success		200				{object}	OrgTree
//	@Success		304
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			304					{string}	ETag	"The version the client holds"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs/tree [get]
func (h *Orgs) Tree(c *gin.Context) {
	roots, err := h.orgs.Tree(c.Request.Context(), caller(c), c.Query("root"))
	if err != nil {
		respondError(c, err)
		return
	}
	out := OrgTree{Roots: h.nodes(roots)}
	body, err := json.Marshal(out)
	if err != nil {
		respondError(c, err)
		return
	}
	sum := sha256.Sum256(body)
	tag := `"` + hex.EncodeToString(sum[:12]) + `"`
	c.Header("ETag", tag)
	c.Header("Cache-Control", "private, no-cache")
	if match := c.GetHeader("If-None-Match"); match == tag || match == "W/"+tag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func (h *Orgs) nodes(in []*services.OrgNode) []OrgTreeNode {
	out := make([]OrgTreeNode, 0, len(in))
	for _, n := range in {
		out = append(out, OrgTreeNode{OrgResponse: h.out.org(n.Org), Children: h.nodes(n.Children)})
	}
	return out
}

// Update changes an org unit.
//
//	@Summary		修改组织单位 Change an org unit
//	@Description	按 If-Match 中的版本（ETag）修改单位的名称、学校标识码、学段或人数。类型和上级单位不可更改。Changes the name, school code, stages or headcounts of a unit at the version in If-Match (its ETag). Kind and parent never change.
//	@ID				updateOrg
//	@Tags			orgs
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id										path		string		true	"Org id"
//	@Param			If-Match								header		string		true	"ETag of the version being changed"
//	@Param			body									body		OrgPatch	true	"Fields to change"
//	@Success		200										{object}	OrgResponse
//	@Header			200										{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,412,413,415,422,428,503	{object}	Problem
//	@Header			503										{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs/{id} [patch]
func (h *Orgs) Update(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req OrgPatch
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	o, err := h.orgs.Update(c.Request.Context(), caller(c), c.Param("id"), version, req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(o.Version))
	c.JSON(http.StatusOK, h.out.org(o))
}

// Delete removes an empty org unit.
//
//	@Summary		删除组织单位 Delete an org unit
//	@Description	按 If-Match 中的版本删除没有下级单位、也没有用户的单位。Removes a unit that has no child units and no users, at the version in If-Match.
//	@ID				deleteOrg
//	@Tags			orgs
//	@Security		BearerAuth
//	@Param			id			path	string	true	"Org id"
//	@Param			If-Match	header	string	true	"ETag of the version being deleted"
//	@Success		204
//	@Produce		application/problem+json
//	@Failure		400,401,403,404,409,412,428,503	{object}	Problem
//	@Header			503								{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs/{id} [delete]
func (h *Orgs) Delete(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	if err := h.orgs.Delete(c.Request.Context(), caller(c), c.Param("id"), version); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
