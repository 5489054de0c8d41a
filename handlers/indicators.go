package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Indicators serves indicators (指标) and their values.
type Indicators struct {
	indicators *services.Indicators
	out        presenter
}

// IndicatorRequest defines an indicator. Terms: <template>.<measure>,
// optionally [dim=value|value,...]; <template>.records[...];
// people(<template>.<field>); schools(<template>)[...]; org.students,
// org.staff, org.schools, org.schools[stage=小学].
type IndicatorRequest struct {
	Key         string   `json:"key" validate:"required" example:"award_teacher_share"`
	Name        string   `json:"name" validate:"required" example:"市级以上表彰教师占比"`
	NameEN      string   `json:"name_en,omitempty" example:"Teachers honoured at city level or above"`
	Description string   `json:"description,omitempty"`
	Numerator   []string `json:"numerator" validate:"required" example:"honor_award.count[level=国家级|省级|市级]"`
	Denominator []string `json:"denominator" validate:"required" example:"org.staff"`
	// Factor scales the ratio (100 for a percentage; default 1).
	Factor *float64 `json:"factor,omitempty" example:"100"`
	Unit   string   `json:"unit,omitempty" example:"%"`
	// Decimals rounds the value (0-6, default 2).
	Decimals *int `json:"decimals,omitempty" example:"1"`
} //	@name	IndicatorRequest

// IndicatorResponse is one indicator.
type IndicatorResponse struct {
	Key         string   `json:"key" validate:"required" example:"petition_satisfaction_rate"`
	Name        string   `json:"name" validate:"required" example:"信访满意率"`
	NameEN      string   `json:"name_en,omitempty" example:"Petitioners satisfied"`
	Description string   `json:"description,omitempty"`
	OwnerID     string   `json:"owner_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Builtin     bool     `json:"builtin" validate:"required"`
	Numerator   []string `json:"numerator" validate:"required" example:"petition.satisfied"`
	Denominator []string `json:"denominator" validate:"required" example:"petition.resolved"`
	Factor      float64  `json:"factor" validate:"required" example:"100"`
	Unit        string   `json:"unit,omitempty" example:"%"`
	Decimals    int      `json:"decimals" validate:"required" example:"1"`
	Version     int64    `json:"version" validate:"required" example:"1"`
	CreatedAt   string   `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
} //	@name	Indicator

// IndicatorList is one page of indicators, in key order.
type IndicatorList struct {
	Items      []IndicatorResponse `json:"items" validate:"required"`
	NextCursor string              `json:"next_cursor" validate:"required"`
} //	@name	IndicatorList

// IndicatorTermResponse is one term's value in a row, with the totals
// query behind it.
type IndicatorTermResponse struct {
	Side     string   `json:"side" validate:"required" enums:"numerator,denominator"`
	Term     string   `json:"term" validate:"required" example:"petition.satisfied"`
	Value    float64  `json:"value" validate:"required" example:"197"`
	Previous *float64 `json:"previous,omitempty"`
	// TotalsURL is the totals query that gives the value (absent for org
	// figures).
	TotalsURL string `json:"totals_url,omitempty"`
} //	@name	IndicatorTerm

// IndicatorRowResponse is an indicator's value for one group.
type IndicatorRowResponse struct {
	Keys        map[string]string `json:"keys" validate:"required"`
	OrgName     string            `json:"org_name,omitempty"`
	Numerator   float64           `json:"numerator" validate:"required" example:"197"`
	Denominator float64           `json:"denominator" validate:"required" example:"200"`
	// Value is numerator / denominator × factor, rounded; null when the
	// denominator is 0.
	Value *float64 `json:"value" example:"98.5"`
	// With compare=previous: last period's figures and the change of the
	// value (in the indicator's unit: 9 with unit % is "增长9个百分点").
	Previous *IndicatorPreviousResponse `json:"previous,omitempty"`
	Change   *float64                   `json:"change,omitempty" example:"1.5"`
	Terms    []IndicatorTermResponse    `json:"terms" validate:"required"`
} //	@name	IndicatorRow

// IndicatorPreviousResponse is a row in the period compared with.
type IndicatorPreviousResponse struct {
	Numerator   float64  `json:"numerator" validate:"required"`
	Denominator float64  `json:"denominator" validate:"required"`
	Value       *float64 `json:"value"`
} //	@name	IndicatorPrevious

// IndicatorValuesResponse answers an indicator's values.
type IndicatorValuesResponse struct {
	Indicator IndicatorResponse      `json:"indicator" validate:"required"`
	Org       TotalsOrg              `json:"org" validate:"required"`
	Period    string                 `json:"period,omitempty" example:"2025AY"`
	From      string                 `json:"from" validate:"required" format:"date" example:"2025-09-01"`
	To        string                 `json:"to" validate:"required" format:"date" example:"2026-08-31"`
	Previous  *TotalsPeriodResponse  `json:"previous,omitempty"`
	GroupBy   []string               `json:"group_by" validate:"required"`
	Rows      []IndicatorRowResponse `json:"rows" validate:"required"`
} //	@name	IndicatorValues

func (p presenter) indicator(ind services.Indicator) IndicatorResponse {
	return IndicatorResponse{Key: ind.Key, Name: ind.Name, NameEN: ind.NameEN, Description: ind.Description,
		OwnerID: ind.OwnerID, Builtin: ind.Builtin, Numerator: ind.Numerator, Denominator: ind.Denominator,
		Factor: ind.Factor, Unit: ind.Unit, Decimals: ind.Decimals, Version: ind.Version, CreatedAt: p.time(ind.CreatedAt)}
}

// Create defines an indicator.
//
//	@Summary		定义指标 Define an indicator
//	@Description	区县、市教育局管理员定义指标（满意率、办结率、覆盖率、生均……）：分子、分母各为若干项之和。District and city admins define an indicator, owned by their unit: value = sum of numerator terms / sum of denominator terms × factor. Terms: <template>.<measure> with an optional filter [dim=value|value,...] (honor_award.count[level=市级]), <template>.records[...] (records), people(<template>.<field>) (distinct persons), schools(<template>)[...] (schools that filed), org.students, org.staff, org.schools and org.schools[stage=小学] (the unit's figures; headcounts from the latest school profiles). A term that names an unknown template, measure, dimension or option is 422 naming it (numerator[0]).
//	@ID				createIndicator
//	@Tags			indicators
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body								body		IndicatorRequest	true	"The indicator"
//	@Param			Idempotency-Key						header		string				false	"Makes a retry safe"
//	@Success		201									{object}	IndicatorResponse
//	@Success		200									{object}	IndicatorResponse	"a retry with the same Idempotency-Key and body: the first answer again (Idempotent-Replayed: true)"
//	@Header			200									{string}	ETag				"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201									{string}	ETag				"Version of what was created"
//	@Header			200									{string}	Location			"URL of what was created"
//	@Header			201									{string}	Location			"URL of what was created"
//	@Failure		400,401,403,404,409,413,415,422,503	{object}	Problem
//	@Header			409									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/indicators [post]
func (h *Indicators) Create(c *gin.Context) {
	var req IndicatorRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	ind, err := h.indicators.Create(c.Request.Context(), caller(c), services.IndicatorInput{Key: req.Key, Name: req.Name,
		NameEN: req.NameEN, Description: req.Description, Numerator: req.Numerator, Denominator: req.Denominator,
		Factor: req.Factor, Unit: req.Unit, Decimals: req.Decimals})
	if err != nil {
		respondError(c, err)
		return
	}
	created(c, "/api/v1/indicators/"+ind.Key, ind.Version, h.out.indicator(ind))
}

// List lists indicators.
//
//	@Summary		指标列表 List indicators
//	@Description	内置指标及本单位、上级单位定义的指标。The built-in indicators (教师培训覆盖率, 应急演练学校覆盖率, 信访办结率, 信访满意率, 安全隐患整改率, 生均资助金额) and those of the caller's unit, its ancestors and the units below it, in key order; cursor-paginated.
//	@ID				listIndicators
//	@Tags			indicators
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			limit			query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor			query		string	false	"next_cursor of the previous page"
//	@Success		200				{object}	IndicatorList
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/indicators [get]
func (h *Indicators) List(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	list, err := h.indicators.List(c.Request.Context(), caller(c), pg)
	if err != nil {
		respondError(c, err)
		return
	}
	out := IndicatorList{Items: make([]IndicatorResponse, 0, len(list))}
	for _, ind := range list {
		out.Items = append(out.Items, h.out.indicator(ind))
	}
	if len(list) > 0 {
		out.NextCursor = nextCursor(len(list), pg.Normalize().Limit, list[len(list)-1].Key)
	}
	c.JSON(http.StatusOK, out)
}

// Get returns one indicator.
//
//	@Summary		指标定义 Get an indicator
//	@Description	返回调用者可见的一个指标；其他指标返回 404。One indicator the caller can see; others are 404.
//	@ID				getIndicator
//	@Tags			indicators
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			key					path		string	true	"Indicator key"
//	@Success		200					{object}	IndicatorResponse
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/indicators/{key} [get]
func (h *Indicators) Get(c *gin.Context) {
	ind, err := h.indicators.Get(c.Request.Context(), caller(c), c.Param("key"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(ind.Version))
	c.JSON(http.StatusOK, h.out.indicator(ind))
}

// Values answers an indicator's values.
//
//	@Summary		指标数值 An indicator's values
//	@Description	指标在某单位、某期间的数值：分子、分母、结果，以及每一项背后的汇总查询。An indicator for a unit and a period (as totals take them: period, or from/to, default the current school year), grouped by org (the unit's child units) and/or one period bucket (month, quarter, semester, school_year, year): numerator, denominator and value per row, and each term's value with the totals query that gives it (totals_url), so every figure is traceable. compare=previous adds the previous period and the change (较上年增长). Principals ask for their school, district and city admins for their unit; other units are 404.
//	@ID				getIndicatorValues
//	@Tags			indicators
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			key						path		string	true	"Indicator key"
//	@Param			org_id					query		string	false	"Org unit (default: the caller's)"
//	@Param			period					query		string	false	"Period id (2025, 2025Q1, 202503, 2025AY, 2025AY-S1)"
//	@Param			from					query		string	false	"First day (YYYY-MM-DD), with to instead of period"	Format(date)
//	@Param			to						query		string	false	"Last day (YYYY-MM-DD)"								Format(date)
//	@Param			group_by				query		string	false	"org and/or one of month, quarter, semester, school_year, year"
//	@Param			compare					query		string	false	"previous: add the previous period and the change"	Enums(previous)
//	@Param			status					query		string	false	"approved (default), submitted, or approved,submitted"
//	@Success		200						{object}	IndicatorValuesResponse
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/indicators/{key}/values [get]
func (h *Indicators) Values(c *gin.Context) {
	q := services.ValuesQuery{OrgID: c.Query("org_id"), Period: c.Query("period"), From: c.Query("from"), To: c.Query("to"),
		GroupBy: splitList(c, "group_by"), Compare: c.Query("compare")}
	for _, st := range splitList(c, "status") {
		q.Statuses = append(q.Statuses, services.RecordStatus(st))
	}
	if q.OrgID != "" && !filterPattern.MatchString(q.OrgID) {
		respondError(c, badField("indicators.values", "org_id", "format", nil))
		return
	}
	rep, err := h.indicators.Values(c.Request.Context(), caller(c), c.Param("key"), q)
	if err != nil {
		respondError(c, err)
		return
	}
	out := IndicatorValuesResponse{Indicator: h.out.indicator(rep.Indicator),
		Org:    TotalsOrg{ID: rep.Org.ID, Kind: string(rep.Org.Kind), Name: rep.Org.Name},
		Period: rep.Period, From: rep.From, To: rep.To, GroupBy: rep.GroupBy, Rows: make([]IndicatorRowResponse, 0, len(rep.Rows))}
	if out.GroupBy == nil {
		out.GroupBy = []string{}
	}
	if p := rep.Previous; p != nil {
		out.Previous = &TotalsPeriodResponse{Period: p.ID, From: p.From, To: p.To}
	}
	for _, r := range rep.Rows {
		row := IndicatorRowResponse{Keys: r.Keys, OrgName: r.OrgName, Numerator: r.Numerator, Denominator: r.Denominator,
			Value: finite(r.Value), Terms: make([]IndicatorTermResponse, 0, len(r.Terms))}
		if r.HasPrevious {
			row.Previous = &IndicatorPreviousResponse{Numerator: r.PreviousNumerator, Denominator: r.PreviousDenominator,
				Value: finite(r.PreviousValue)}
			row.Change = finite(r.Change)
		}
		for _, t := range r.Terms {
			tr := IndicatorTermResponse{Side: t.Side, Term: t.Term, Value: t.Value, TotalsURL: t.TotalsURL}
			if r.HasPrevious {
				prev := t.Previous
				tr.Previous = &prev
			}
			row.Terms = append(row.Terms, tr)
		}
		out.Rows = append(out.Rows, row)
	}
	c.JSON(http.StatusOK, out)
}
