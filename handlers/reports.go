package handlers

import (
	"bytes"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/summary"
)

// Reports serves the work-summary draft.
type Reports struct {
	summary *summary.Service
}

// SummaryFigure is one number of a paragraph, with the totals query that
// produced it.
type SummaryFigure struct {
	Text      string  `json:"text" validate:"required" example:"312场次"`
	Value     float64 `json:"value" validate:"required" example:"312"`
	TotalsURL string  `json:"totals_url" validate:"required" example:"/api/v1/totals?compare=previous&period=2025AY&template=safety_drill"`
} //	@name	SummaryFigure

// SummaryParagraph is the draft of one category.
type SummaryParagraph struct {
	Category string          `json:"category" validate:"required" example:"safety"`
	Heading  string          `json:"heading" validate:"required" example:"平安校园建设"`
	Text     string          `json:"text" validate:"required" example:"全区共开展消防、地震、防汛等应急疏散演练312场次，参与学生4.52万人次，较上年增加36场次，学校覆盖率达100%。"`
	Figures  []SummaryFigure `json:"figures" validate:"required"`
	// Templates are the templates its sentences speak of.
	Templates []string `json:"templates" validate:"required" example:"safety_drill"`
} //	@name	SummaryParagraph

// SummaryResponse is the figures section of a work summary.
type SummaryResponse struct {
	Title      string             `json:"title" validate:"required" example:"城区教育局2025学年工作总结（数据部分）"`
	Org        TotalsOrg          `json:"org" validate:"required"`
	Period     string             `json:"period,omitempty" example:"2025AY"`
	From       string             `json:"from" validate:"required" format:"date" example:"2025-09-01"`
	To         string             `json:"to" validate:"required" format:"date" example:"2026-08-31"`
	Paragraphs []SummaryParagraph `json:"paragraphs" validate:"required"`
} //	@name	Summary

// Summary drafts the figures section of a work summary.
//
//	@Summary		工作总结（数据部分）草稿 Work-summary draft
//	@Description	按模板类别各成一段，用教育局的口吻写出已审核通过记录的汇总数：量词（场次、人次、名、万元）、主要分项以“、”连接并以“等”收尾、与上年比较、学校覆盖率；每个数字附有产生它的汇总查询（totals_url）。The figures section of a work summary, one paragraph per template category in the bureau's voice, from the approved records' totals compared with the previous period: classifiers, the main breakdown joined with 、 and closed with 等, 万 above ten thousand people-times, money in 万元 or 亿元, school coverage; every figure carries the totals query that produced it. format=md or txt gives the text itself; format=docx a Word document (opens in Word and WPS) with the title, a heading per category, its paragraph and, for a district or city, the category's statistics table (统计表) by school or district with subtotals and 合计. Principals (their school) and admins.
//	@ID				getSummaryDraft
//	@Tags			reports
//	@Security		BearerAuth
//	@Produce		json,text/markdown,text/plain,application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/problem+json
//	@Param			org_id					query		string	false	"Org unit (default: the caller's)"
//	@Param			period					query		string	false	"Period id (default: the current school year)"
//	@Param			from					query		string	false	"First day (YYYY-MM-DD), with to instead of period"	Format(date)
//	@Param			to						query		string	false	"Last day (YYYY-MM-DD)"								Format(date)
//	@Param			format					query		string	false	"json (default), md, txt or docx"					Enums(json, md, txt, docx)
//	@Success		200						{object}	SummaryResponse
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/reports/summary [get]
func (h *Reports) Summary(c *gin.Context) {
	format := c.DefaultQuery("format", "json")
	switch format {
	case "json", "md", "txt", "docx":
	default:
		respondError(c, services.Invalid("reports.summary", services.Field("format", "enum", "options", "json, md, txt, docx")))
		return
	}
	q := summary.Query{OrgID: c.Query("org_id"), Period: c.Query("period"), From: c.Query("from"), To: c.Query("to")}
	if q.OrgID != "" && !filterPattern.MatchString(q.OrgID) {
		respondError(c, badField("reports.summary", "org_id", "format", nil))
		return
	}
	d, err := h.summary.Draft(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	switch format {
	case "md":
		c.Data(http.StatusOK, "text/markdown; charset=utf-8", []byte(summary.Markdown(d)))
		return
	case "txt":
		c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(summary.Text(d)))
		return
	case "docx":
		h.word(c, q, d)
		return
	}
	out := SummaryResponse{Title: d.Title, Org: TotalsOrg{ID: d.Org.ID, Kind: string(d.Org.Kind), Name: d.Org.Name},
		Period: d.Period, From: d.From, To: d.To, Paragraphs: make([]SummaryParagraph, 0, len(d.Paragraphs))}
	for _, p := range d.Paragraphs {
		sp := SummaryParagraph{Category: p.Category, Heading: p.Heading, Text: p.Text, Figures: make([]SummaryFigure, 0, len(p.Figures)),
			Templates: p.Templates}
		for _, f := range p.Figures {
			sp.Figures = append(sp.Figures, SummaryFigure(f))
		}
		out.Paragraphs = append(out.Paragraphs, sp)
	}
	c.JSON(http.StatusOK, out)
}

// Document is the work-summary draft as a Word document: the same as
// format=docx of the draft, as an operation of its own whose answer is a
// file (Swagger 2.0 gives an operation one schema, so generated clients
// read the draft's JSON there and the document here).
//
//	@Summary		工作总结（数据部分）Word 文档 Work-summary draft as a Word document
//	@Description	与 GET /api/v1/reports/summary?format=docx 相同：标题、每个类别一个标题及其段落，区县或市另附该类别按学校或区县的统计表（含小计、合计），可用 Word 和 WPS 打开；校长（本校）和管理员可用。The same as GET /api/v1/reports/summary?format=docx: a Word document (Word and WPS) with the title, a heading per category, its paragraph and, for a district or city, the category's statistics table by school or district with subtotals and 合计. Principals (their school) and admins.
//	@ID				getSummaryDocument
//	@Tags			reports
//	@Security		BearerAuth
//	@Produce		application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/problem+json
//	@Param			org_id					query		string	false	"Org unit (default: the caller's)"
//	@Param			period					query		string	false	"Period id (default: the current school year)"
//	@Param			from					query		string	false	"First day (YYYY-MM-DD), with to instead of period"	Format(date)
//	@Param			to						query		string	false	"Last day (YYYY-MM-DD)"								Format(date)
//	@Success		200						{file}		file
//	@Header			200						{string}	Content-Disposition	"attachment; filename*=UTF-8''…工作总结（数据部分）.docx"
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/reports/summary.docx [get]
func (h *Reports) Document(c *gin.Context) {
	q := summary.Query{OrgID: c.Query("org_id"), Period: c.Query("period"), From: c.Query("from"), To: c.Query("to")}
	if q.OrgID != "" && !filterPattern.MatchString(q.OrgID) {
		respondError(c, badField("reports.summary", "org_id", "format", nil))
		return
	}
	d, err := h.summary.Draft(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	h.word(c, q, d)
}

// word answers draft d as a Word document. A few pages: written whole, so
// a failure is still a problem document.
func (h *Reports) word(c *gin.Context, q summary.Query, d summary.Draft) {
	var b bytes.Buffer
	if err := h.summary.Word(c.Request.Context(), caller(c), q, d, &b); err != nil {
		respondError(c, err)
		return
	}
	c.Header("Content-Disposition", attachment(d.Title+".docx"))
	c.Data(http.StatusOK, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b.Bytes())
}
