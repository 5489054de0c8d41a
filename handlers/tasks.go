package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Tasks serves collection tasks (填报任务) and their live progress.
type Tasks struct {
	tasks *services.Tasks
	out   presenter
}

// TaskRequest is a new collection task. Targets are school_ids (schools
// under org_id), else every school under org_id teaching one of stages,
// else every school under org_id.
type TaskRequest struct {
	Name         string   `json:"name" validate:"required" example:"2025年秋季学期安全演练填报"`
	Templates    []string `json:"templates" validate:"required" example:"safety_drill"`
	Period       string   `json:"period" validate:"required" example:"2025AY-S1"`
	OrgID        string   `json:"org_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Stages       []string `json:"stages,omitempty" example:"小学"`
	SchoolIDs    []string `json:"school_ids,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	DueOn        string   `json:"due_on" validate:"required" format:"date" example:"2025-12-31"`
	MinPerSchool *int     `json:"min_per_school,omitempty" minimum:"1" maximum:"1000" example:"2"`
	Note         string   `json:"note,omitempty" example:"请各校上传演练照片"`
} //	@name	TaskRequest

// TaskResponse is one collection task.
type TaskResponse struct {
	ID           string   `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1d"`
	Name         string   `json:"name" validate:"required" example:"2025年秋季学期安全演练填报"`
	Templates    []string `json:"templates" validate:"required" example:"safety_drill"`
	Period       string   `json:"period" validate:"required" example:"2025AY-S1"`
	From         string   `json:"from" validate:"required" format:"date" example:"2025-09-01"`
	To           string   `json:"to" validate:"required" format:"date" example:"2026-01-31"`
	OrgID        string   `json:"org_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Stages       []string `json:"stages" validate:"required"`
	SchoolIDs    []string `json:"school_ids" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	Targets      int      `json:"targets" validate:"required" example:"52"`
	DueOn        string   `json:"due_on" validate:"required" format:"date" example:"2025-12-31"`
	MinPerSchool int      `json:"min_per_school" validate:"required" example:"1"`
	Note         string   `json:"note,omitempty"`
	CreatedBy    string   `json:"created_by" validate:"required" example:"06cg5mq681cbkq3v6221cnmtc8"`
	CreatedAt    string   `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	Version      int64    `json:"version" validate:"required" example:"1"`
} //	@name	Task

// TaskList is one page of tasks, newest first.
type TaskList struct {
	Items      []TaskResponse `json:"items" validate:"required"`
	NextCursor string         `json:"next_cursor" validate:"required"`
} //	@name	TaskList

// SchoolProgressResponse is where one target school stands.
type SchoolProgressResponse struct {
	SchoolID    string `json:"school_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	SchoolName  string `json:"school_name" validate:"required" example:"成华区实验小学"`
	DistrictID  string `json:"district_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Submitted   int    `json:"submitted" validate:"required" example:"1"`
	Approved    int    `json:"approved" validate:"required" example:"1"`
	Returned    int    `json:"returned" validate:"required" example:"0"`
	Done        int    `json:"done" validate:"required" example:"2"`
	Needed      int    `json:"needed" validate:"required" example:"2"`
	Complete    bool   `json:"complete" validate:"required" example:"true"`
	CompletedAt string `json:"completed_at,omitempty" format:"date-time" example:"2025-12-20T10:00:00+08:00"`
	OnTime      bool   `json:"on_time" validate:"required" example:"true"`
	Late        bool   `json:"late" validate:"required" example:"false"`
} //	@name	TaskSchoolProgress

// RatesResponse sums up a group of target schools: reporting rate
// (complete / targets) and timeliness rate (complete by the due date /
// targets), as fractions 0..1 rounded to 4 decimals (0.923 is 92.3%).
type RatesResponse struct {
	OrgID          string  `json:"org_id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	OrgName        string  `json:"org_name,omitempty" example:"成华区"`
	Targets        int     `json:"targets" validate:"required" example:"52"`
	Complete       int     `json:"complete" validate:"required" example:"48"`
	OnTime         int     `json:"on_time" validate:"required" example:"45"`
	ReportingRate  float64 `json:"reporting_rate" validate:"required" example:"0.9231" minimum:"0" maximum:"1"`
	TimelinessRate float64 `json:"timeliness_rate" validate:"required" example:"0.8654" minimum:"0" maximum:"1"`
} //	@name	TaskRates

// TaskProgressResponse is a task's progress, computed from the records
// at the moment of the request.
type TaskProgressResponse struct {
	Task      TaskResponse             `json:"task" validate:"required"`
	AsOf      string                   `json:"as_of" validate:"required" format:"date-time" example:"2025-12-21T09:00:00+08:00"`
	Overdue   bool                     `json:"overdue" validate:"required"`
	Total     RatesResponse            `json:"total" validate:"required"`
	Districts []RatesResponse          `json:"districts" validate:"required"`
	Schools   []SchoolProgressResponse `json:"schools" validate:"required"`
} //	@name	TaskProgress

// MissingSchool is a target school that has not filed enough yet.
type MissingSchool struct {
	SchoolID   string `json:"school_id" validate:"required" example:"06cg5q0e027ws05v35ez6r6sdm"`
	SchoolName string `json:"school_name" validate:"required" example:"成华区第二中学"`
	DistrictID string `json:"district_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Done       int    `json:"done" validate:"required" example:"0"`
	Needed     int    `json:"needed" validate:"required" example:"1"`
	Returned   int    `json:"returned" validate:"required" example:"1"`
} //	@name	TaskMissingSchool

// MissingList is one page of incomplete target schools, in school id
// order.
type MissingList struct {
	Items      []MissingSchool `json:"items" validate:"required"`
	NextCursor string          `json:"next_cursor" validate:"required"`
} //	@name	TaskMissingList

// MyTaskResponse is a task as the caller's school sees it.
type MyTaskResponse struct {
	ID           string   `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1d"`
	Name         string   `json:"name" validate:"required" example:"2025年秋季学期安全演练填报"`
	Templates    []string `json:"templates" validate:"required" example:"safety_drill"`
	Period       string   `json:"period" validate:"required" example:"2025AY-S1"`
	From         string   `json:"from" validate:"required" format:"date" example:"2025-09-01"`
	To           string   `json:"to" validate:"required" format:"date" example:"2026-01-31"`
	DueOn        string   `json:"due_on" validate:"required" format:"date" example:"2025-12-31"`
	Note         string   `json:"note,omitempty"`
	Needed       int      `json:"needed" validate:"required" example:"2"`
	Done         int      `json:"done" validate:"required" example:"1"`
	Submitted    int      `json:"submitted" validate:"required" example:"1"`
	Approved     int      `json:"approved" validate:"required" example:"0"`
	Returned     int      `json:"returned" validate:"required" example:"1"`
	Complete     bool     `json:"complete" validate:"required"`
	OnTime       bool     `json:"on_time" validate:"required"`
	Overdue      bool     `json:"overdue" validate:"required"`
	CompletedAt  string   `json:"completed_at,omitempty" format:"date-time" example:"2025-12-20T10:00:00+08:00"`
	MinPerSchool int      `json:"min_per_school" validate:"required" example:"2"`
} //	@name	MyTask

// MyTaskList is one page of the caller's school's tasks, newest first.
type MyTaskList struct {
	Items      []MyTaskResponse `json:"items" validate:"required"`
	NextCursor string           `json:"next_cursor" validate:"required"`
} //	@name	MyTaskList

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (p presenter) task(t services.Task) TaskResponse {
	return TaskResponse{ID: t.ID, Name: t.Name, Templates: orEmpty(t.Templates), Period: t.Period, From: t.From, To: t.To,
		OrgID: t.OrgID, Stages: orEmpty(t.Stages), SchoolIDs: orEmpty(t.SchoolIDs), Targets: len(t.SchoolIDs),
		DueOn: t.DueOn, MinPerSchool: t.MinPerSchool, Note: t.Note, CreatedBy: t.CreatedBy,
		CreatedAt: p.time(t.CreatedAt), Version: t.Version}
}

func rates(r services.Rates) RatesResponse {
	return RatesResponse{OrgID: r.OrgID, OrgName: r.OrgName, Targets: r.Targets, Complete: r.Complete, OnTime: r.OnTime,
		ReportingRate: r.ReportingRate, TimelinessRate: r.TimelinessRate}
}

func (p presenter) schoolProgress(sp services.SchoolProgress) SchoolProgressResponse {
	return SchoolProgressResponse{SchoolID: sp.SchoolID, SchoolName: sp.SchoolName, DistrictID: sp.DistrictID,
		Submitted: sp.Submitted, Approved: sp.Approved, Returned: sp.Returned, Done: sp.Done, Needed: sp.Needed,
		Complete: sp.Complete, CompletedAt: p.time(sp.CompletedAt), OnTime: sp.OnTime, Late: sp.Complete && !sp.OnTime}
}

// Create creates a collection task.
//
//	@Summary		创建填报任务 Create a collection task
//	@Description	区县或市教育局（或系统管理员）要求学校在截止日期前填报某些模板、覆盖某一期间（2025、2025Q1、202503、2025AY、2025AY-S1……）的记录。目标学校为 school_ids（org_id 下的学校）；未给出时为 org_id 下开设 stages 中某一学段的所有学校；再未给出时为 org_id 下的所有学校；目标学校在创建任务时确定（最多 2000 所）。学校在该期间发生的这些模板的记录中，已提交或已通过的达到 min_per_school 条（默认 1）即为完成。org_id 默认为调用者本单位，且必须是调用者管辖范围内的市或区县。A district or city bureau (or a sysadmin) asks schools for records of some templates covering a period (2025, 2025Q1, 202503, 2025AY, 2025AY-S1 ...) by a due date. Targets are school_ids (schools under org_id), else every school under org_id teaching one of stages, else every school under org_id; they are fixed when the task is created (at most 2000). A school is complete once min_per_school (default 1) of its records of those templates that occurred in the period are submitted or approved. org_id defaults to the caller's own unit and must be a city or district inside the caller's scope.
//	@ID				createTask
//	@Tags			tasks
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body								body		TaskRequest	true	"The task"
//	@Param			Idempotency-Key						header		string		false	"Makes a retry safe"
//	@Success		201									{object}	TaskResponse
//	@Success		200									{object}	TaskResponse	"a retry with the same Idempotency-Key and body: the first answer again (Idempotent-Replayed: true)"
//	@Header			200									{string}	ETag			"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201									{string}	ETag			"Version of what was created"
//	@Header			200									{string}	Location		"URL of what was created"
//	@Header			201									{string}	Location		"URL of what was created"
//	@Failure		400,401,403,404,409,413,415,422,503	{object}	Problem
//	@Header			409									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/tasks [post]
func (h *Tasks) Create(c *gin.Context) {
	var req TaskRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	t, err := h.tasks.Create(c.Request.Context(), caller(c), services.TaskInput{Name: req.Name, Templates: req.Templates,
		Period: req.Period, OrgID: req.OrgID, Stages: req.Stages, SchoolIDs: req.SchoolIDs, DueOn: req.DueOn,
		MinPerSchool: req.MinPerSchool, Note: req.Note})
	if err != nil {
		respondError(c, err)
		return
	}
	created(c, "/api/v1/tasks/"+t.ID, t.Version, h.out.task(t))
}

// Get returns one task.
//
//	@Summary		填报任务详情 Get a collection task
//	@Description	返回调用者所在教育局或其下级教育局的任务，或以调用者所在学校为目标的任务；其他一律 404。Returns a task of the caller's bureau or a bureau below it, or one that targets the caller's school; anything else is 404.
//	@ID				getTask
//	@Tags			tasks
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id					path		string	true	"Task id"
//	@Success		200					{object}	TaskResponse
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/tasks/{id} [get]
func (h *Tasks) Get(c *gin.Context) {
	t, err := h.tasks.Get(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(t.Version))
	c.JSON(http.StatusOK, h.out.task(t))
}

// List lists tasks.
//
//	@Summary		填报任务列表 List collection tasks
//	@Description	列出调用者所在教育局及其下级教育局的任务，按时间倒序；游标分页。Lists the tasks of the caller's bureau and the bureaus below it, newest first; cursor-paginated.
//	@ID				listTasks
//	@Tags			tasks
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			limit				query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor				query		string	false	"next_cursor of the previous page"
//	@Success		200					{object}	TaskList
//	@Failure		400,401,403,422,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/tasks [get]
func (h *Tasks) List(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	ts, err := h.tasks.List(c.Request.Context(), caller(c), pg)
	if err != nil {
		respondError(c, err)
		return
	}
	out := TaskList{Items: make([]TaskResponse, 0, len(ts))}
	for _, t := range ts {
		out.Items = append(out.Items, h.out.task(t))
	}
	if len(ts) > 0 {
		out.NextCursor = nextCursor(len(ts), pg.Normalize().Limit, ts[len(ts)-1].ID)
	}
	c.JSON(http.StatusOK, out)
}

// Progress reports a task's progress.
//
//	@Summary		填报任务进度 Progress of a collection task
//	@Description	根据记录实时计算：每所目标学校在该期间发生的任务模板记录按状态计数（已提交、已通过、已退回；草稿和已撤回的不计），是否完成（已提交 + 已通过 >= min_per_school），以及是在截止日结束前完成（on_time，按时）还是之后完成（late，逾期）。对整个任务和每个区县给出：目标数、完成数、按时完成数、上报率 reporting_rate（完成数 / 目标数）和及时率 timeliness_rate（按时完成数 / 目标数），与所有 *_rate 一样为 0..1 的小数，保留 4 位——即 DHIS2 的上报率，无需等待分析任务运行。供管辖范围覆盖该任务所属教育局的管理员使用。Computed live from the records: for every target school the records of the task's templates that occurred in the period, by status (submitted, approved, returned; drafts and withdrawn ones do not count), whether it is complete (submitted + approved >= min_per_school) and whether it was complete by the end of the due day (on_time) or after it (late). For the task and for each district: targets, complete, on_time, reporting_rate (complete / targets) and timeliness_rate (on_time / targets), as fractions 0..1 rounded to 4 decimals like every *_rate — DHIS2's reporting rates, without waiting for an analytics run. For admins whose scope covers the task's bureau.
//	@ID				getTaskProgress
//	@Tags			tasks
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id					path		string	true	"Task id"
//	@Success		200					{object}	TaskProgressResponse
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/tasks/{id}/progress [get]
func (h *Tasks) Progress(c *gin.Context) {
	pr, err := h.tasks.Progress(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	out := TaskProgressResponse{Task: h.out.task(pr.Task), AsOf: h.out.time(pr.AsOf), Overdue: pr.Overdue,
		Total: rates(pr.Total), Districts: make([]RatesResponse, 0, len(pr.Districts)),
		Schools: make([]SchoolProgressResponse, 0, len(pr.Schools))}
	for _, d := range pr.Districts {
		out.Districts = append(out.Districts, rates(d))
	}
	for _, sp := range pr.Schools {
		out.Schools = append(out.Schools, h.out.schoolProgress(sp))
	}
	c.JSON(http.StatusOK, out)
}

// Missing lists the schools still to file.
//
//	@Summary		填报任务未完成学校 Schools missing from a collection task
//	@Description	列出尚未完成的目标学校，附其已完成情况和应报要求：即催报名单。按学校 id 排序；游标分页。供管辖范围覆盖该任务所属教育局的管理员使用。Lists the target schools that are not complete yet, with what they have done and what is needed: the list reminders go to. In school id order; cursor-paginated. For admins whose scope covers the task's bureau.
//	@ID				listTaskMissing
//	@Tags			tasks
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id						path		string	true	"Task id"
//	@Param			limit					query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor					query		string	false	"next_cursor of the previous page"
//	@Success		200						{object}	MissingList
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/tasks/{id}/missing [get]
func (h *Tasks) Missing(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	list, err := h.tasks.Missing(c.Request.Context(), caller(c), c.Param("id"), pg)
	if err != nil {
		respondError(c, err)
		return
	}
	out := MissingList{Items: make([]MissingSchool, 0, len(list))}
	for _, sp := range list {
		out.Items = append(out.Items, MissingSchool{SchoolID: sp.SchoolID, SchoolName: sp.SchoolName,
			DistrictID: sp.DistrictID, Done: sp.Done, Needed: sp.Needed, Returned: sp.Returned})
	}
	if len(list) > 0 {
		out.NextCursor = nextCursor(len(list), pg.Normalize().Limit, list[len(list)-1].SchoolID)
	}
	c.JSON(http.StatusOK, out)
}

// Mine lists the caller's school's tasks.
//
//	@Summary		本校的填报任务 My school's collection tasks
//	@Description	供校长和教师使用：要求本校填报的任务，按时间倒序，每项附应报要求和本校已完成情况（本校所有记录都计入，不只是调用者本人的）。截止日在最近 30 天内或更晚的任务都会列出，未完成的任务在截止日后 180 天内仍会列出。其他角色得到空列表。游标分页；一页的条目可能少于 limit。For principals and teachers: the tasks asking something of their school, newest first, each with what is needed and what the school has done (all of the school's records count, not only the caller's). Every task due in the last 30 days or later is listed, and unfinished ones for 180 days after their due day. Others get an empty list. Cursor-paginated; a page may hold fewer items than limit.
//	@ID				listMyTasks
//	@Tags			tasks
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			limit				query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor				query		string	false	"next_cursor of the previous page"
//	@Success		200					{object}	MyTaskList
//	@Failure		400,401,403,422,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/me/tasks [get]
func (h *Tasks) Mine(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	items, next, err := h.tasks.Mine(c.Request.Context(), caller(c), pg)
	if err != nil {
		respondError(c, err)
		return
	}
	out := MyTaskList{Items: make([]MyTaskResponse, 0, len(items))}
	for _, m := range items {
		t, sp := m.Task, m.Progress
		out.Items = append(out.Items, MyTaskResponse{ID: t.ID, Name: t.Name, Templates: orEmpty(t.Templates),
			Period: t.Period, From: t.From, To: t.To, DueOn: t.DueOn, Note: t.Note, Needed: sp.Needed, Done: sp.Done,
			Submitted: sp.Submitted, Approved: sp.Approved, Returned: sp.Returned, Complete: sp.Complete,
			OnTime: sp.OnTime, Overdue: m.Overdue, CompletedAt: h.out.time(sp.CompletedAt), MinPerSchool: t.MinPerSchool})
	}
	if next != "" {
		out.NextCursor = encodeCursor(next)
	}
	c.JSON(http.StatusOK, out)
}
