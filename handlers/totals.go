package handlers

import (
	"math"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Totals serves the figures records add up to.
type Totals struct {
	totals *services.Totals
}

// TotalsOrg names the unit totals are about.
type TotalsOrg struct {
	ID   string `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Kind string `json:"kind" validate:"required" enums:"city,district,school" example:"district"`
	Name string `json:"name" validate:"required" example:"成华区"`
} //	@name	TotalsOrg

// RecordFilterResponse is the record list behind a totals row: the query
// GET /api/v1/records takes.
type RecordFilterResponse struct {
	OrgID    string            `json:"org_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Template string            `json:"template,omitempty"`
	From     string            `json:"from" validate:"required" format:"date" example:"2025-09-01"`
	To       string            `json:"to" validate:"required" format:"date" example:"2026-08-31"`
	Status   string            `json:"status" validate:"required" example:"approved"`
	Data     map[string]string `json:"data,omitempty"`
} //	@name	RecordFilter

// TotalsRowResponse is one group of records.
type TotalsRowResponse struct {
	// Keys has one entry per group_by key; null for a dimension the
	// records left out.
	Keys map[string]*string `json:"keys" validate:"required" extensions:"x-nullable-values"`
	// OrgName is the name of the unit keys.org names (with group_by org).
	OrgName string `json:"org_name,omitempty" example:"成华区实验小学"`
	// TemplateName is the name of the template keys.template names (with
	// group_by template), in English when asked for and given.
	TemplateName string `json:"template_name,omitempty" example:"应急疏散演练"`
	// Labels has, for each dimension key of keys with a value, the
	// option's label from the template (the value itself when the
	// options are plain values), in English when asked for and given.
	Labels map[string]string `json:"labels,omitempty" example:"kind:消防"`
	Count  int64             `json:"count" validate:"required" example:"37"`
	// Sums has the sum of every measure field, by field key.
	Sums map[string]float64 `json:"sums" validate:"required"`
	// Schools is how many schools contributed, SchoolsTotal how many the
	// row's unit has; SchoolRate is their ratio (share of schools that
	// did it at least once).
	Schools      int      `json:"schools" validate:"required" example:"12"`
	SchoolsTotal int      `json:"schools_total" validate:"required" example:"40"`
	SchoolRate   *float64 `json:"school_rate,omitempty" example:"0.3"`
	// Authors counts distinct authors and Staff is the row unit's staff
	// headcount; StaffRate (e.g. 培训覆盖率) is their ratio. Left out when
	// rows are split by a dimension.
	Authors *int `json:"authors,omitempty" example:"310"`
	// People has, for each people field of the row's template, the
	// distinct persons in it (teacher_training.trainees: teachers
	// trained); Distinct the distinct values of each text field counted
	// distinct (research projects by name). staff_rate is people of the
	// first people field (else authors) over staff. Left out when rows
	// are split by a dimension.
	People    map[string]int `json:"people,omitempty" example:"trainees:88"`
	Distinct  map[string]int `json:"distinct,omitempty"`
	Staff     int            `json:"staff" validate:"required" example:"2400"`
	StaffRate *float64       `json:"staff_rate,omitempty" example:"0.1292"`
	// Records is the filter listing the records behind the row, and
	// RecordsURL the same as a link.
	Records    RecordFilterResponse `json:"records" validate:"required"`
	RecordsURL string               `json:"records_url" validate:"required"`
	// Previous and Change come with compare=previous: the row's figures
	// in the previous period (zero when it had none) and what moved.
	Previous *TotalsPreviousResponse `json:"previous,omitempty"`
	Change   *TotalsChangeResponse   `json:"change,omitempty"`
} //	@name	TotalsRow

// TotalsPreviousResponse is a row's figures in the period compared with.
type TotalsPreviousResponse struct {
	Count      int64              `json:"count" validate:"required" example:"264"`
	Sums       map[string]float64 `json:"sums" validate:"required"`
	Schools    int                `json:"schools" validate:"required" example:"11"`
	People     map[string]int     `json:"people,omitempty"`
	Distinct   map[string]int     `json:"distinct,omitempty"`
	SchoolRate *float64           `json:"school_rate,omitempty" example:"0.275"`
	StaffRate  *float64           `json:"staff_rate,omitempty"`
	RecordsURL string             `json:"records_url" validate:"required"`
} //	@name	TotalsPrevious

// TotalsChangeResponse is this period less the previous one: "较上年增加36
// 场次" is count (or sums.drills) 36; rates change in fraction points
// (school_rate 0.09: "增长9个百分点"); count_growth is the relative change
// (0.1364: "增长13.64%"), absent without previous records.
type TotalsChangeResponse struct {
	Count       int64              `json:"count" validate:"required" example:"36"`
	Sums        map[string]float64 `json:"sums" validate:"required"`
	People      map[string]int     `json:"people,omitempty"`
	Distinct    map[string]int     `json:"distinct,omitempty"`
	SchoolRate  *float64           `json:"school_rate,omitempty" example:"0.09"`
	StaffRate   *float64           `json:"staff_rate,omitempty"`
	CountGrowth *float64           `json:"count_growth,omitempty" example:"0.1364"`
} //	@name	TotalsChange

// MeasureResponse labels a measure key of the sums.
type MeasureResponse struct {
	Template string `json:"template" validate:"required"`
	Key      string `json:"key" validate:"required"`
	Label    string `json:"label" validate:"required"`
	Unit     string `json:"unit,omitempty"`
} //	@name	TotalsMeasure

// TotalsResponse answers a totals query.
type TotalsResponse struct {
	Org    TotalsOrg `json:"org" validate:"required"`
	Period string    `json:"period,omitempty" example:"2025AY"`
	From   string    `json:"from" validate:"required" format:"date" example:"2025-09-01"`
	To     string    `json:"to" validate:"required" format:"date" example:"2026-08-31"`
	Status []string  `json:"status" validate:"required"`
	// GroupBy is what rows are keyed by: as asked, with template added
	// when the query does not name exactly one template (rows never mix
	// templates).
	GroupBy []string `json:"group_by" validate:"required"`
	// Filter is the dimension filter applied, by key.
	Filter map[string][]string `json:"filter,omitempty"`
	// Previous is the period compared with (compare=previous).
	Previous *TotalsPeriodResponse `json:"previous,omitempty"`
	Rows     []TotalsRowResponse   `json:"rows" validate:"required"`
	Measures []MeasureResponse     `json:"measures" validate:"required"`
} //	@name	Totals

// TotalsPeriodResponse names a period.
type TotalsPeriodResponse struct {
	Period string `json:"period,omitempty" example:"2024AY"`
	From   string `json:"from" validate:"required" format:"date" example:"2024-09-01"`
	To     string `json:"to" validate:"required" format:"date" example:"2025-08-31"`
} //	@name	TotalsPeriod

// known is x, or nil for an unknown (negative) rate.
func known(x float64) *float64 {
	if x < 0 {
		return nil
	}
	return &x
}

// finite is x, or nil for NaN (no value).
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// splitList reads a query parameter given as a comma-separated list or
// repeated (template=a,b or template=a&template=b).
func splitList(c *gin.Context, name string) []string {
	var out []string
	for _, v := range c.QueryArray(name) {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// Get godoc
//
//	@Summary		已通过记录的汇总 Totals of approved records
//	@Description	某组织单位某期间记录的计数与合计，按要求分组：即工作总结中的数字。校长可查询本校，区县管理员可查询本区县及其每所学校，市级管理员可查询本市及其每个区县；其他一律 404。汇总随每次审核决定即时更新，因此包含最近通过的记录。期间：2025（年）、2025Q1、202503（月）、2025AY（自 2025 年 9 月 1 日起的学年）、2025AY-S1 / 2025AY-S2（学期）；或 from/to 日期；都不给则为当前学年。group_by 可取 org（本单位的下级单位；本单位自身的记录以其自身 id 列出）、template、month/quarter/semester/school_year/year 之一，以及维度字段键（kind、level……）：各行来自具有这些维度的模板。各行从不混合模板：除非恰好指定一个模板，template 都是每行键的一部分（也出现在应答的 group_by 中）。filter 保留具有给定维度值的记录（level:市级,category:优秀班主任；同一键的多个值以 | 连接）。未知的查询参数会被拒绝（400 unknown_parameter）。所有 *_rate 均为 0..1 的小数，保留 4 位。每行包含记录数、每个统计量的合计、有记录的学校数（及本单位的学校总数）；authors=true 时还有去重后的填报人数与教职工人数之比（覆盖率，如教师培训覆盖率）；列出这些记录的筛选条件；以及 id 旁的名称：org_name、template_name 和 labels（每个维度值在模板中的选项名称），均在调用者管辖范围内查找。Counts and sums of the records of an org unit for a period, grouped as asked: the figures of a work summary. A principal may ask for their school, a district admin for the district and each school in it, a city admin for the city and each district; anything else is 404. Totals are kept up to date with every review decision, so they include the last approved record. Periods: 2025 (year), 2025Q1, 202503 (month), 2025AY (school year from 1 Sep 2025), 2025AY-S1 / 2025AY-S2 (semesters); or from/to dates; neither is the current school year. group_by takes org (the unit's child units; the unit's own records under its own id), template, one of month/quarter/semester/school_year/year, and dimension field keys (kind, level, ...): rows come from the templates that have those dimensions. Rows never mix templates: unless exactly one template is named, template is part of every row's keys (and of group_by in the answer). filter keeps the records with the given dimension values (level:市级,category:优秀班主任; several values of a key joined by |). Unknown query parameters are refused (400 unknown_parameter). Every *_rate is a fraction 0..1 rounded to 4 decimals. Each row has the record count, the sum of every measure, the schools that contributed (and how many the unit has), with authors=true distinct authors against staff headcount (coverage, e.g. share of teachers trained), the filter listing its records, and names beside ids: org_name, template_name and labels (the template's option label of each dimension value), looked up inside the caller's scope.
//	@ID				getTotals
//	@Tags			totals
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			org_id					query		string	false	"Org unit (default: the caller's)"
//	@Param			period					query		string	false	"Period id (2025AY, 2025AY-S1, 2025, 2025Q1, 202503)"
//	@Param			from					query		string	false	"First day (YYYY-MM-DD), with to instead of period"	Format(date)
//	@Param			to						query		string	false	"Last day (YYYY-MM-DD)"								Format(date)
//	@Param			template				query		string	false	"Template key(s), comma-separated (default: all)"
//	@Param			status					query		string	false	"approved (default), submitted, or approved,submitted"
//	@Param			group_by				query		string	false	"Comma-separated: org, template, month|quarter|semester|school_year|year, dimension keys (org,template,kind)"
//	@Param			filter					query		string	false	"Dimension filter: key:value pairs separated by commas, several values of a key joined by | (level:市级,category:优秀班主任|优秀教师)"
//	@Param			compare					query		string	false	"previous: add the previous period of the same kind (2024 for 2025, 2024AY-S1 for 2025AY-S1, the month or quarter before; from/to one year back) and the change to every row"	Enums(previous)
//	@Param			authors					query		bool	false	"Also count distinct authors against the staff headcount (staff_rate); not with dimension keys or filter"
//	@Success		200						{object}	TotalsResponse
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/totals [get]
func (h *Totals) Get(c *gin.Context) {
	q := services.TotalsQuery{OrgID: c.Query("org_id"), Period: c.Query("period"), From: c.Query("from"), To: c.Query("to"),
		Templates: splitList(c, "template"), GroupBy: splitList(c, "group_by"), Authors: c.Query("authors") == "true",
		Filter: c.Query("filter"), Compare: c.Query("compare")}
	for _, st := range splitList(c, "status") {
		q.Statuses = append(q.Statuses, services.RecordStatus(st))
	}
	if q.OrgID != "" && !filterPattern.MatchString(q.OrgID) {
		respondError(c, badField("totals.get", "org_id", "format", nil))
		return
	}
	rep, err := h.totals.Get(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	l := negotiate(c.GetHeader("Accept-Language"))
	out := TotalsResponse{Org: TotalsOrg{ID: rep.Org.ID, Kind: string(rep.Org.Kind), Name: rep.Org.Name},
		Period: rep.Period, From: rep.From, To: rep.To, GroupBy: rep.GroupBy, Filter: rep.Filter,
		Rows: make([]TotalsRowResponse, 0, len(rep.Rows)), Measures: make([]MeasureResponse, 0, len(rep.Measures))}
	if out.GroupBy == nil {
		out.GroupBy = []string{}
	}
	if p := rep.Previous; p != nil {
		out.Previous = &TotalsPeriodResponse{Period: p.ID, From: p.From, To: p.To}
	}
	for _, st := range rep.Statuses {
		out.Status = append(out.Status, string(st))
	}
	for _, r := range rep.Rows {
		row := TotalsRowResponse{Keys: make(map[string]*string, len(r.Keys)), OrgName: r.OrgName,
			TemplateName: r.TemplateName, Count: r.Count, Sums: r.Sums,
			Schools: r.Schools, SchoolsTotal: r.SchoolsTotal, Staff: r.Staff}
		if l == en && r.TemplateNameEN != "" {
			row.TemplateName = r.TemplateNameEN
		}
		if len(r.Labels) > 0 {
			row.Labels = make(map[string]string, len(r.Labels))
			for k, v := range r.Labels {
				if v2 := r.LabelsEN[k]; l == en && v2 != "" {
					v = v2
				}
				row.Labels[k] = v
			}
		}
		for k, v := range r.Keys {
			if v != "" {
				row.Keys[k] = &v
			} else {
				row.Keys[k] = nil
			}
		}
		if x := r.SchoolRate(); x >= 0 {
			row.SchoolRate = &x
		}
		row.People, row.Distinct = r.People, r.Distinct
		if r.Authors >= 0 {
			n := r.Authors
			row.Authors = &n
		}
		if x := r.StaffRate(); x >= 0 {
			row.StaffRate = &x
		}
		st := make([]string, len(r.Filter.Statuses))
		for i, s := range r.Filter.Statuses {
			st[i] = string(s)
		}
		row.Records = RecordFilterResponse{OrgID: r.Filter.OrgID, Template: r.Filter.Template, From: r.Filter.From,
			To: r.Filter.To, Status: strings.Join(st, ","), Data: r.Filter.Data}
		row.RecordsURL = "/api/v1/records?" + r.Filter.Query()
		if pr := r.Previous; pr != nil {
			row.Previous = &TotalsPreviousResponse{Count: pr.Count, Sums: pr.Sums, Schools: pr.Schools, People: pr.People, Distinct: pr.Distinct,
				SchoolRate: known(pr.SchoolRate), StaffRate: known(pr.StaffRate)}
			if pr.Filter.OrgID != "" {
				row.Previous.RecordsURL = "/api/v1/records?" + pr.Filter.Query()
			}
		}
		if ch := r.Change; ch != nil {
			row.Change = &TotalsChangeResponse{Count: ch.Count, Sums: ch.Sums, People: ch.People, Distinct: ch.Distinct, SchoolRate: finite(ch.SchoolRate),
				StaffRate: finite(ch.StaffRate), CountGrowth: finite(ch.CountGrowth)}
		}
		out.Rows = append(out.Rows, row)
	}
	for _, m := range rep.Measures {
		label := m.Label
		if l == en && m.LabelEN != "" {
			label = m.LabelEN
		}
		out.Measures = append(out.Measures, MeasureResponse{Template: m.Template, Key: m.Key, Label: label, Unit: m.Unit})
	}
	c.JSON(http.StatusOK, out)
}

// DriftResponse is a cell whose stored total differed from its records.
type DriftResponse struct {
	OrgID     string           `json:"org_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	Template  string           `json:"template" validate:"required"`
	Status    string           `json:"status" validate:"required"`
	Month     string           `json:"month" validate:"required" example:"2025-10"`
	Dimension string           `json:"dimension" validate:"required"`
	Value     string           `json:"value" validate:"required"`
	Want      int64            `json:"want_count" validate:"required"`
	Got       int64            `json:"got_count" validate:"required"`
	WantSums  map[string]int64 `json:"want_sums" validate:"required"`
	GotSums   map[string]int64 `json:"got_sums" validate:"required"`
} //	@name	TotalsDrift

// ReconcileResponse reports a verify or rebuild of the totals.
type ReconcileResponse struct {
	Units   int             `json:"units" validate:"required"`
	Drifted int             `json:"drifted" validate:"required"`
	Drift   []DriftResponse `json:"drift" validate:"required"`
	Fixed   bool            `json:"fixed" validate:"required"`
	Seconds float64         `json:"seconds" validate:"required"`
} //	@name	TotalsReconcile

// reconcileResponse presents a report; sums in drift are in 1/10000 units.
func reconcileResponse(rep services.ReconcileReport) ReconcileResponse {
	out := ReconcileResponse{Units: rep.Units, Drifted: rep.Drifted, Fixed: rep.Fixed, Seconds: rep.Took.Seconds(),
		Drift: make([]DriftResponse, 0, len(rep.Drift))}
	for _, d := range rep.Drift {
		k := d.Want.CellKey
		if k.Template == "" {
			k = d.Got.CellKey
		}
		out.Drift = append(out.Drift, DriftResponse{OrgID: k.OrgID, Template: k.Template, Status: string(k.Status),
			Month: k.Month, Dimension: k.Dim, Value: k.Value, Want: d.Want.Count, Got: d.Got.Count,
			WantSums: d.Want.Sums, GotSums: d.Got.Sums})
	}
	return out
}

// Verify godoc
//
//	@Summary		核对汇总与记录 Verify totals against records
//	@Description	根据记录重新计算每个单位的汇总，并报告不一致的单元格（偏差，应当没有）。仅限系统管理员；与 `huizong totals verify` 相同。报告中的合计以 1/10000 为单位。耗时约等于读取全部记录。Recomputes every unit's totals from its records and reports the cells that differ (drift, which must be none). Sysadmins only; the same as `huizong totals verify`. Sums in the report are in 1/10000 units. Takes about as long as reading every record.
//	@ID				verifyTotals
//	@Tags			totals
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Success		200				{object}	ReconcileResponse
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/totals:verify [post]
func (h *Totals) Verify(c *gin.Context) {
	rep, err := h.totals.Verify(c.Request.Context(), caller(c), nil)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, reconcileResponse(rep))
}

// Rebuild godoc
//
//	@Summary		根据记录重建有偏差的汇总 Rebuild drifted totals from records
//	@Description	根据记录重新计算每个单位的汇总，并逐个单位改写不一致的单元格，期间服务器照常接收记录。仅限系统管理员；与 `huizong totals rebuild` 相同。Recomputes every unit's totals from its records and rewrites the cells that differ, unit by unit while the server keeps taking records. Sysadmins only; the same as `huizong totals rebuild`.
//	@ID				rebuildTotals
//	@Tags			totals
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Success		200				{object}	ReconcileResponse
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/totals:rebuild [post]
func (h *Totals) Rebuild(c *gin.Context) {
	rep, err := h.totals.Rebuild(c.Request.Context(), caller(c), nil)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, reconcileResponse(rep))
}
