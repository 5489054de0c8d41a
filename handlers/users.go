package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Users serves accounts.
type Users struct {
	users *services.Users
	out   presenter
}

// UserRequest creates or changes an account. On PATCH, omitted fields stay
// as they are; username never changes and passwords change elsewhere.
type UserRequest struct {
	// Username defaults to the mobile number.
	Username string  `json:"username,omitempty" example:"zhanglaoshi"`
	Name     *string `json:"name,omitempty" validate:"required" example:"张老师"`
	Mobile   *string `json:"mobile,omitempty" example:"13800138000"`
	Role     *string `json:"role,omitempty" validate:"required" enums:"teacher,principal,district_admin,city_admin,sysadmin" example:"teacher"`
	OrgID    string  `json:"org_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	// Password is optional: without it the server generates an initial
	// password and returns it once.
	Password string `json:"password,omitempty"`
	Disabled *bool  `json:"disabled,omitempty"`
} //	@name	UserRequest

// UserPatch changes an account (PATCH): a property left out (or null)
// stays as it is; false (disabled: false re-enables), 0 and "" are values.
type UserPatch struct {
	Username *string `json:"username,omitempty" extensions:"x-nullable"`
	Name     *string `json:"name,omitempty" example:"张老师" extensions:"x-nullable"`
	Mobile   *string `json:"mobile,omitempty" example:"13800138000" extensions:"x-nullable"`
	Role     *string `json:"role,omitempty" enums:"teacher,principal,district_admin,city_admin,sysadmin" extensions:"x-nullable"`
	OrgID    *string `json:"org_id,omitempty" extensions:"x-nullable" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	Password *string `json:"password,omitempty" extensions:"x-nullable"`
	Disabled *bool   `json:"disabled,omitempty" example:"false" extensions:"x-nullable"`
} //	@name	UserPatch

func (p UserPatch) input() services.UserInput {
	return UserRequest{Username: deref(p.Username), Name: p.Name, Mobile: p.Mobile, Role: p.Role, OrgID: deref(p.OrgID),
		Password: deref(p.Password), Disabled: p.Disabled}.input()
}

func (r UserRequest) input() services.UserInput {
	in := services.UserInput{Username: r.Username, Name: r.Name, Mobile: r.Mobile, OrgID: r.OrgID, Password: r.Password, Disabled: r.Disabled}
	if r.Role != nil {
		role := services.Role(*r.Role)
		in.Role = &role
	}
	return in
}

// CreatedUserResponse is a new account and, when the server generated it,
// its initial password (shown this once).
type CreatedUserResponse struct {
	UserResponse
	InitialPassword string `json:"initial_password,omitempty" example:"k7PmQx4vT9a2"`
} //	@name	CreatedUser

// UserList is one page of accounts.
type UserList struct {
	Items      []UserResponse `json:"items" validate:"required"`
	NextCursor string         `json:"next_cursor" validate:"required"`
	// Total counts every match when count=true was asked.
	Total *int64 `json:"total,omitempty" example:"52"`
} //	@name	UserList

// Create adds an account.
//
//	@Summary		创建用户 Create a user
//	@Description	在调用者管辖范围内创建账号：管理员可创建低于自身的角色，校长可创建本校教师。教师和校长隶属于学校，区县管理员隶属于区县，市级管理员隶属于市。未提供密码时由服务器生成并仅返回一次；用户首次登录时必须修改。Creates an account inside the caller's scope: admins create roles below their own, principals create teachers of their school. Teachers and principals belong to a school, district admins to a district, city admins to a city. Without a password the server generates one and returns it once; the user must change it at first sign-in.
//	@ID				createUser
//	@Tags			users
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body								body		UserRequest	true	"The account"
//	@Param			Idempotency-Key						header		string		false	"Makes a retry safe: the same key and body within 24 h replay the first answer (200) instead of creating again"
//	@Success		201									{object}	CreatedUserResponse
//	@Success		200									{object}	CreatedUserResponse	"a retry with the same Idempotency-Key and body: the first answer again (Idempotent-Replayed: true)"
//	@Header			200									{string}	ETag				"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Header			201									{string}	ETag				"Version of what was created"
//	@Header			200									{string}	Location			"URL of what was created"
//	@Header			201									{string}	Location			"URL of what was created"
//	@Failure		400,401,403,404,409,413,415,422,503	{object}	Problem
//	@Header			409									{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503									{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users [post]
func (h *Users) Create(c *gin.Context) {
	var req UserRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	nu, err := h.users.Create(c.Request.Context(), caller(c), req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	created(c, "/api/v1/users/"+nu.User.ID, nu.User.Version, CreatedUserResponse{UserResponse: h.out.user(nu.User), InitialPassword: nu.InitialPassword})
}

// Get returns one account.
//
//	@Summary		用户详情 Get a user
//	@Description	返回调用者管辖范围内的一个账号；其他一律 404。Returns one account inside the caller's scope; others are 404.
//	@ID				getUser
//	@Tags			users
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id					path		string	true	"User id"
//	@Success		200					{object}	UserResponse
//	@Header			200					{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users/{id} [get]
func (h *Users) Get(c *gin.Context) {
	u, err := h.users.Get(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	c.JSON(http.StatusOK, h.out.user(u))
}

// List lists accounts.
//
//	@Summary		用户列表 List users
//	@Description	列出调用者管辖范围内的账号，可按组织单位或角色筛选；游标分页。Lists the accounts inside the caller's scope, filtered by org unit or role; cursor-paginated.
//	@ID				listUsers
//	@Tags			users
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			org_id			query		string	false	"Only users of this unit"
//	@Param			role			query		string	false	"Only this role"	Enums(teacher, principal, district_admin, city_admin, sysadmin)
//	@Param			limit			query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor			query		string	false	"next_cursor of the previous page"
//	@Param			count			query		bool	false	"Also count every match (total)"
//	@Success		200				{object}	UserList
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users [get]
func (h *Users) List(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	role := services.Role(c.Query("role"))
	if role != "" && !role.Valid() {
		respondError(c, badField("users.list", "role", "enum", map[string]any{"options": "teacher, principal, district_admin, city_admin, sysadmin"}))
		return
	}
	count, err := wantCount(c)
	if err != nil {
		respondError(c, err)
		return
	}
	q := services.UserQuery{OrgID: c.Query("org_id"), Role: role, Page: pg}
	users, err := h.users.List(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	out := UserList{Items: make([]UserResponse, 0, len(users))}
	if count {
		n, err := h.users.Count(c.Request.Context(), caller(c), q)
		if err != nil {
			respondError(c, err)
			return
		}
		out.Total = &n
	}
	for _, u := range users {
		out.Items = append(out.Items, h.out.user(u))
	}
	if len(users) > 0 {
		out.NextCursor = nextCursor(len(users), pg.Limit, users[len(users)-1].ID)
	}
	c.JSON(http.StatusOK, out)
}

// Update changes an account.
//
//	@Summary		修改用户 Change a user
//	@Description	按 If-Match 中的版本修改姓名、手机号、角色、组织单位或停用标志。停用会使该用户在所有设备上退出登录。Changes name, mobile, role, org unit or the disabled flag at the version in If-Match. Disabling signs the user out everywhere.
//	@ID				updateUser
//	@Tags			users
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id										path		string		true	"User id"
//	@Param			If-Match								header		string		true	"ETag of the version being changed"
//	@Param			body									body		UserPatch	true	"Fields to change"
//	@Success		200										{object}	UserResponse
//	@Header			200										{string}	ETag	"Version of what is returned ("v<version>"); If-Match of a change takes it"
//	@Failure		400,401,403,404,412,413,415,422,428,503	{object}	Problem
//	@Header			503										{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users/{id} [patch]
func (h *Users) Update(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req UserPatch
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	u, err := h.users.Update(c.Request.Context(), caller(c), c.Param("id"), version, req.input())
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	c.JSON(http.StatusOK, h.out.user(u))
}

// ResetPasswordRequest sets a user's password; empty generates one.
type ResetPasswordRequest struct {
	Password string `json:"password,omitempty"`
} //	@name	ResetPasswordRequest

// ResetPasswordResponse carries a generated password, shown once.
type ResetPasswordResponse struct {
	InitialPassword string `json:"initial_password,omitempty"`
} //	@name	ResetPasswordResponse

// ResetPassword sets a new password for a user the caller manages.
//
//	@Summary		重置用户密码 Reset a user's password
//	@Description	设置新密码（未提供时自动生成，并仅返回一次），使该用户在所有设备上退出登录，并要求其下次登录时自行设置密码。Sets a new password (generated when none is given, and returned once), signs the user out everywhere and makes them choose their own at next sign-in.
//	@ID				resetUserPassword
//	@Tags			users
//	@Security		BearerAuth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			id								path		string					true	"User id"
//	@Param			body							body		ResetPasswordRequest	false	"New password"
//	@Success		200								{object}	ResetPasswordResponse
//	@Failure		400,401,403,404,413,415,422,503	{object}	Problem
//	@Header			503								{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users/{id}/password [post]
func (h *Users) ResetPassword(c *gin.Context) {
	var req ResetPasswordRequest
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil && !isEmptyBody(err) {
			respondError(c, err)
			return
		}
	}
	pw, err := h.users.ResetPassword(c.Request.Context(), caller(c), c.Param("id"), req.Password)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, ResetPasswordResponse{InitialPassword: pw})
}

func isEmptyBody(err error) bool {
	var se *services.Error
	return errors.As(err, &se) && len(se.Fields) == 1 && se.Fields[0].Field == "body" && se.Fields[0].Code == "required"
}

// ImportRowResponse is the outcome of one row of an import file.
type ImportRowResponse struct {
	Line            int            `json:"line" validate:"required" example:"2"`
	Status          string         `json:"status" validate:"required" enums:"created,valid,invalid" example:"created"`
	User            *UserResponse  `json:"user,omitempty"`
	InitialPassword string         `json:"initial_password,omitempty"`
	Errors          []ProblemField `json:"errors,omitempty"`
} //	@name	ImportRow

// ImportResponse reports a bulk import row by row.
type ImportResponse struct {
	Created int                 `json:"created" validate:"required" example:"120"`
	DryRun  bool                `json:"dry_run" validate:"required"`
	Rows    []ImportRowResponse `json:"rows" validate:"required"`
} //	@name	ImportResponse

// maxImportBytes bounds an import file.
const maxImportBytes = 8 << 20

// Import creates accounts from a CSV or XLSX file.
//
//	@Summary		从 CSV 或 XLSX 导入用户 Import users from CSV or XLSX
//	@Description	从含 姓名、手机号、角色、学校（学校名称或 10 位学校标识码）列，以及可选的 用户名 和 初始密码 列的文件创建账号；CSV 为 UTF-8 或 GBK 编码，或 XLSX；最多 2000 行、8 MiB。先校验每一行：只要有一行出错就全部不导入，返回 422，并以 rows[<行号>].<列名> 指出每个出错的行。成功时列出每个账号及其生成的初始密码（仅显示一次）。dry_run=true 只校验不导入。Creates accounts from a file with the columns 姓名, 手机号, 角色, 学校 (school name or 10-digit code), optionally 用户名 and 初始密码; CSV in UTF-8 or GBK, or XLSX; at most 2000 rows and 8 MiB. Every row is checked first: if any row fails, nothing is imported and the answer is 422 naming each failing row as rows[<line>].<column>. On success the answer lists each account with its generated initial password (shown once). dry_run=true checks without importing.
//	@ID				importUsers
//	@Tags			users
//	@Security		BearerAuth
//	@Accept			multipart/form-data
//	@Produce		json,application/problem+json
//	@Param			file							formData	file			true	"CSV or XLSX file"
//	@Param			dry_run							query		bool			false	"Check only"
//	@Param			Idempotency-Key					header		string			false	"Makes a retry safe: the same key and body within 24 h replay the first answer (200) instead of creating again"
//	@Success		200								{object}	ImportResponse	"dry run: every row is valid"
//	@Success		201								{object}	ImportResponse
//	@Failure		400,401,403,409,413,415,422,503	{object}	Problem
//	@Header			409								{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503								{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users:import [post]
func (h *Users) Import(c *gin.Context) {
	dryRun, _ := strconv.ParseBool(c.Query("dry_run"))
	fh, err := c.FormFile("file")
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
			return
		}
		respondError(c, badField("users.import", "file", "required", nil))
		return
	}
	f, err := fh.Open()
	if err != nil {
		respondError(c, fmt.Errorf("users.import: open upload: %w", err))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImportBytes+1))
	if err != nil {
		respondError(c, fmt.Errorf("users.import: read upload: %w", err))
		return
	}
	if len(data) > maxImportBytes {
		writeProblem(c, http.StatusRequestEntityTooLarge, "payload_too_large", nil)
		return
	}
	rows, err := services.ReadImportFile(bytes.NewReader(data), fh.Filename, services.MaxImportRows)
	if err != nil {
		respondError(c, err)
		return
	}
	report, err := h.users.Import(c.Request.Context(), caller(c), rows, dryRun)
	if err != nil {
		respondError(c, err)
		return
	}
	var failed []services.FieldError
	out := ImportResponse{DryRun: report.DryRun, Rows: make([]ImportRowResponse, 0, len(report.Rows))}
	l := negotiate(c.GetHeader("Accept-Language"))
	for _, r := range report.Rows {
		row := ImportRowResponse{Line: r.Line, Status: "valid"}
		for _, fe := range r.Errors {
			fe.Field = fmt.Sprintf("rows[%d].%s", r.Line, fe.Field)
			failed = append(failed, fe)
			row.Errors = append(row.Errors, ProblemField{Field: fe.Field, Code: fe.Code, Message: message(l, fe.Code, fe.Args)})
		}
		switch {
		case len(r.Errors) > 0:
			row.Status = "invalid"
		case report.Created:
			row.Status = "created"
			u := h.out.user(r.User)
			row.User, row.InitialPassword = &u, r.InitialPassword
			out.Created++
		}
		out.Rows = append(out.Rows, row)
	}
	if len(failed) > 0 {
		respondError(c, services.Invalid("users.import", failed...))
		return
	}
	status := http.StatusCreated
	if dryRun {
		status = http.StatusOK
	}
	c.JSON(status, out)
}

// importTemplateTypes are the media types of the import template formats.
var importTemplateTypes = map[string]string{
	services.ImportTemplateXLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	services.ImportTemplateCSV:  "text/csv; charset=utf-8",
}

// ImportTemplate returns the sheet to fill in for a user import.
//
//	@Summary		下载用户导入模板 Download the user import template
//	@Description	返回 users:import 所读取的文件：一行表头，列为 姓名、手机号、角色、学校、用户名、初始密码（后两列可选），以及一行待替换的示例。XLSX（默认）含工作表“用户”，单元格为文本格式，并提供角色词的列表（教师、老师、校长、园长、学校管理员）；CSV 为带 BOM 的 UTF-8，以便 Excel 正确打开。文件名为 用户导入模板.xlsx 或 .csv。Returns the file users:import reads: a header row with the columns 姓名, 手机号, 角色, 学校, 用户名, 初始密码 (the last two optional) and one example row to replace. XLSX (default) has the sheet 用户 with text cells and a list of the role words (教师, 老师, 校长, 园长, 学校管理员); CSV is UTF-8 with a BOM so that Excel opens it correctly. The file is named 用户导入模板.xlsx or .csv.
//	@ID				getUserImportTemplate
//	@Tags			users
//	@Security		BearerAuth
//	@Produce		application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv,application/problem+json
//	@Param			format				query		string	false	"File format (default xlsx)"	Enums(xlsx, csv)
//	@Success		200					{file}		binary
//	@Header			200					{string}	Content-Disposition	"attachment; filename*=UTF-8''%E7%94%A8%E6%88%B7%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
//	@Failure		400,401,403,422,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/users:import-template [get]
func (h *Users) ImportTemplate(c *gin.Context) {
	format := c.DefaultQuery("format", services.ImportTemplateXLSX)
	b, err := services.ImportTemplate(format)
	if err != nil {
		respondError(c, err)
		return
	}
	// filename for clients that predate RFC 6266, filename* (RFC 5987) with
	// the Chinese name for the others.
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="user-import-template.%s"; filename*=UTF-8''%s`,
		format, url.PathEscape("用户导入模板."+format)))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, importTemplateTypes[format], b)
}

// StaffMember is a colleague a record's people field may name.
type StaffMember struct {
	ID       string `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	Name     string `json:"name" validate:"required" example:"李老师"`
	Role     string `json:"role" validate:"required" enums:"teacher,principal" example:"teacher"`
	Disabled bool   `json:"disabled,omitempty"`
} //	@name	StaffMember

// StaffList is one page of a school's staff, in id order.
type StaffList struct {
	Items      []StaffMember `json:"items" validate:"required"`
	NextCursor string        `json:"next_cursor" validate:"required"`
} //	@name	StaffList

// Staff lists a school's teachers and principals.
//
//	@Summary		教职工名单 A school's staff
//	@Description	学校的教师和校长（姓名、角色），供记录中的人员字段（如教师培训的参训教师 trainees）选择。The teachers and principals of a school (name and role, no mobile numbers), for the people fields of records (teacher_training's trainees): anyone who files records for the school may read it. Units outside the caller's scope are 404, other units than schools 422 not_school. Cursor-paginated in id order.
//	@ID				listOrgStaff
//	@Tags			orgs
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			id						path		string	true	"School id"
//	@Param			limit					query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor					query		string	false	"next_cursor of the previous page"
//	@Success		200						{object}	StaffList
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/orgs/{id}/staff [get]
func (h *Users) Staff(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	users, err := h.users.Staff(c.Request.Context(), caller(c), c.Param("id"), pg)
	if err != nil {
		respondError(c, err)
		return
	}
	out := StaffList{Items: make([]StaffMember, 0, len(users))}
	for _, u := range users {
		out.Items = append(out.Items, StaffMember{ID: u.ID, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled})
	}
	if len(users) > 0 {
		out.NextCursor = nextCursor(len(users), pg.Normalize().Limit, users[len(users)-1].ID)
	}
	c.JSON(http.StatusOK, out)
}
