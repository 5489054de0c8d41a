package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	swaggerFiles "github.com/swaggo/files"
	ginSwagger "github.com/swaggo/gin-swagger"

	"github.com/huizong/huizong/docs"
	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/export"
	"github.com/huizong/huizong/services/summary"
)

// Config is what the router needs from the configuration.
type Config struct {
	MaxBodyBytes   int64
	CORSOrigins    []string
	TrustedProxies []string
	Location       *time.Location
	Development    bool
	// SwaggerUI serves the Swagger UI under /swagger/; the spec at
	// /swagger/doc.json is served either way.
	SwaggerUI bool
}

// Services are the rules the handlers call.
type Services struct {
	Auth        *services.Auth
	Audit       *services.Audit
	Idempotency *services.Idempotency
	Orgs        *services.Orgs
	Users       *services.Users
	Templates   *services.Templates
	Records     *services.Records
	Attachments *services.Attachments
	Tasks       *services.Tasks
	Totals      *services.Totals
	Indicators  *services.Indicators
	Exports     *export.Service
	Summary     *summary.Service
	// RecordBudget and AttachmentBudget are the per-user write budgets:
	// a record create, edit, submit or withdrawal costs 1, a batch costs
	// its number of records, an upload 1 (nil: unlimited).
	RecordBudget     *services.Limiter
	AttachmentBudget *services.Limiter
}

// Readiness reports whether the store answers, and which store it is.
type Readiness interface {
	Ping(ctx context.Context) error
	Name() string
}

// policy is the minimum role of every API route; "" marks a public route.
// A route that is not listed here is refused, and a test walks the router
// to keep the two in step.
var policy = map[string]services.Role{
	"GET /":                                  "",
	"POST /api/v1/auth/login":                "",
	"POST /api/v1/auth/refresh":              "",
	"POST /api/v1/auth/logout":               services.RoleTeacher,
	"GET /api/v1/me":                         services.RoleTeacher,
	"PUT /api/v1/me/password":                services.RoleTeacher,
	"GET /api/v1/me/sessions":                services.RoleTeacher,
	"DELETE /api/v1/me/sessions/:id":         services.RoleTeacher,
	"GET /api/v1/orgs":                       services.RoleTeacher,
	"GET /api/v1/orgs/tree":                  services.RoleTeacher,
	"GET /api/v1/orgs/:id":                   services.RoleTeacher,
	"POST /api/v1/orgs":                      services.RoleDistrictAdmin,
	"PATCH /api/v1/orgs/:id":                 services.RoleDistrictAdmin,
	"DELETE /api/v1/orgs/:id":                services.RoleDistrictAdmin,
	"GET /api/v1/users":                      services.RolePrincipal,
	"GET /api/v1/users/:id":                  services.RolePrincipal,
	"POST /api/v1/users":                     services.RolePrincipal,
	"POST /api/v1/users:import":              services.RolePrincipal,
	"GET /api/v1/users:import-template":      services.RolePrincipal,
	"PATCH /api/v1/users/:id":                services.RolePrincipal,
	"POST /api/v1/users/:id/password":        services.RolePrincipal,
	"POST /api/v1/admin/signing-keys:rotate": services.RoleSysadmin,

	"GET /api/v1/templates":                        services.RoleTeacher,
	"GET /api/v1/templates/:key":                   services.RoleTeacher,
	"GET /api/v1/templates/:key/versions/:version": services.RoleTeacher,
	"POST /api/v1/templates":                       services.RoleDistrictAdmin,
	"POST /api/v1/templates/:key/copy":             services.RoleDistrictAdmin,
	"PATCH /api/v1/templates/:key":                 services.RoleDistrictAdmin,
	"GET /api/v1/records":                          services.RoleTeacher,
	"POST /api/v1/records":                         services.RoleTeacher,
	"POST /api/v1/records:batch":                   services.RoleTeacher,
	"GET /api/v1/records/:id":                      services.RoleTeacher,
	"PATCH /api/v1/records/:id":                    services.RoleTeacher,
	"DELETE /api/v1/records/:id":                   services.RoleTeacher,
	"GET /api/v1/records/:id/history":              services.RoleTeacher,
	"POST /api/v1/records/:id/submit":              services.RoleTeacher,
	"POST /api/v1/records/:id/approve":             services.RolePrincipal,
	"POST /api/v1/records/:id/return":              services.RolePrincipal,
	"POST /api/v1/records/:id/reopen":              services.RolePrincipal,
	"POST /api/v1/attachments":                     services.RoleTeacher,
	"GET /api/v1/attachments/:id":                  services.RoleTeacher,
	"GET /api/v1/attachments/:id/content":          services.RoleTeacher,
	"GET /api/v1/attachments/:id/thumbnail":        services.RoleTeacher,
	"POST /api/v1/tasks":                           services.RoleDistrictAdmin,
	"GET /api/v1/tasks":                            services.RoleDistrictAdmin,
	"GET /api/v1/tasks/:id":                        services.RoleTeacher,
	"GET /api/v1/tasks/:id/progress":               services.RoleDistrictAdmin,
	"GET /api/v1/tasks/:id/missing":                services.RoleDistrictAdmin,
	"GET /api/v1/me/tasks":                         services.RoleTeacher,
	"GET /api/v1/totals":                           services.RolePrincipal,
	"POST /api/v1/totals:verify":                   services.RoleSysadmin,
	"POST /api/v1/totals:rebuild":                  services.RoleSysadmin,
	"GET /api/v1/audit":                            services.RoleDistrictAdmin,
	"GET /api/v1/orgs/:id/staff":                   services.RoleTeacher,
	"GET /api/v1/templates/:key/extension":         services.RoleDistrictAdmin,
	"PUT /api/v1/templates/:key/extension":         services.RoleDistrictAdmin,
	"POST /api/v1/indicators":                      services.RoleDistrictAdmin,
	"GET /api/v1/exports/records":                  services.RolePrincipal,
	"GET /api/v1/exports/totals":                   services.RoleDistrictAdmin,
	"GET /api/v1/reports/summary":                  services.RolePrincipal,
	"GET /api/v1/reports/summary.docx":             services.RolePrincipal,
	"GET /api/v1/exports/tasks/:id":                services.RoleDistrictAdmin,
	"GET /api/v1/indicators":                       services.RolePrincipal,
	"GET /api/v1/indicators/:key":                  services.RolePrincipal,
	"GET /api/v1/indicators/:key/values":           services.RolePrincipal,
}

// Router is huizong's HTTP handler.
type Router struct {
	*gin.Engine
	health *Health
}

// Drain makes /readyz answer 503 so load balancers stop sending new
// requests while the server shuts down.
func (r *Router) Drain() { r.health.draining.Store(true) }

// bodyLimits lets routes that take files accept more than the JSON limit.
var bodyLimits = map[string]int64{
	"POST /api/v1/users:import":  maxImportBytes + 64<<10,
	"POST /api/v1/attachments":   maxUploadBytes,
	"POST /api/v1/records:batch": maxBatchBytes,
}

// maxBatchBytes bounds a batch of records: 100 records of up to 64 KiB.
const maxBatchBytes = 6 << 20

// NewRouter wires every route, middleware and the Swagger UI.
func NewRouter(cfg Config, svc Services, store Readiness, log *slog.Logger) (*Router, error) {
	if !cfg.Development {
		gin.SetMode(gin.ReleaseMode)
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	r.Use(requestID(), accessLog(log), recovery(), cors(cfg.CORSOrigins), compress(), limitBody(cfg.MaxBodyBytes, bodyLimits))
	r.NoRoute(func(c *gin.Context) { writeProblem(c, http.StatusNotFound, "not_found", nil) })
	r.NoMethod(func(c *gin.Context) { writeProblem(c, http.StatusMethodNotAllowed, "method_not_allowed", nil) })

	health := &Health{store: store}
	r.GET("/healthz", health.Live)
	r.GET("/readyz", health.Ready)
	r.GET("/", root(cfg.SwaggerUI))
	r.GET("/swagger/*any", swaggerDocs(cfg.SwaggerUI))

	public := map[string]bool{}
	for k, role := range policy {
		if role == "" {
			public[k] = true
		}
	}
	params, err := specQueryParams()
	if err != nil {
		return nil, err
	}
	api := r.Group("/api/v1", noStore(), client(), authenticate(svc.Auth, public), authorize(policy), knownQuery(params))
	out := presenter{loc: cfg.Location}

	auth := &Auth{auth: svc.Auth, out: out}
	api.POST("/auth/login", auth.Login)
	api.POST("/auth/refresh", auth.Refresh)
	api.POST("/auth/logout", auth.Logout)
	api.GET("/me", auth.Me)
	api.PUT("/me/password", auth.ChangePassword)
	api.GET("/me/sessions", auth.Sessions)
	api.DELETE("/me/sessions/:id", auth.RevokeSession)
	api.POST("/admin/signing-keys\\:rotate", auth.RotateKeys)

	orgs := &Orgs{orgs: svc.Orgs, out: out}
	api.GET("/orgs", orgs.List)
	api.GET("/orgs/tree", orgs.Tree)
	api.GET("/orgs/:id", orgs.Get)
	idem := idempotent(svc.Idempotency)
	api.POST("/orgs", idem, orgs.Create)
	api.PATCH("/orgs/:id", orgs.Update)
	api.DELETE("/orgs/:id", orgs.Delete)

	users := &Users{users: svc.Users, out: out}
	api.GET("/users", users.List)
	api.GET("/users/:id", users.Get)
	api.POST("/users", idem, users.Create)
	api.POST("/users\\:import", idem, users.Import)
	api.GET("/users\\:import-template", users.ImportTemplate)
	api.PATCH("/users/:id", users.Update)
	api.GET("/orgs/:id/staff", users.Staff)
	api.POST("/users/:id/password", users.ResetPassword)

	templates := &Templates{templates: svc.Templates, out: out}
	api.GET("/templates", templates.List)
	api.GET("/templates/:key", templates.Get)
	api.GET("/templates/:key/versions/:version", templates.Version)
	api.POST("/templates", idem, templates.Create)
	api.POST("/templates/:key/copy", idem, templates.Copy)
	api.PATCH("/templates/:key", templates.Update)
	api.GET("/templates/:key/extension", templates.Extension)
	api.PUT("/templates/:key/extension", templates.Extend)

	records := &Records{records: svc.Records, out: out, budget: svc.RecordBudget}
	write := spend(svc.RecordBudget)
	api.GET("/records", records.List)
	api.POST("/records", write, idem, records.Create)
	api.POST("/records\\:batch", idem, records.Batch)
	api.GET("/records/:id", records.Get)
	api.PATCH("/records/:id", write, records.Update)
	api.DELETE("/records/:id", write, records.Delete)
	api.GET("/records/:id/history", records.History)
	api.POST("/records/:id/submit", write, idem, records.Submit)
	api.POST("/records/:id/approve", idem, records.Approve)
	api.POST("/records/:id/return", idem, records.Return)
	api.POST("/records/:id/reopen", idem, records.Reopen)

	attachments := &Attachments{attachments: svc.Attachments, out: out}
	api.POST("/attachments", spend(svc.AttachmentBudget), idem, attachments.Create)
	api.GET("/attachments/:id", attachments.Get)
	api.GET("/attachments/:id/content", attachments.Content)
	api.GET("/attachments/:id/thumbnail", attachments.Thumbnail)

	tasks := &Tasks{tasks: svc.Tasks, out: out}
	api.POST("/tasks", idem, tasks.Create)
	api.GET("/tasks", tasks.List)
	api.GET("/tasks/:id", tasks.Get)
	api.GET("/tasks/:id/progress", tasks.Progress)
	api.GET("/tasks/:id/missing", tasks.Missing)
	api.GET("/me/tasks", tasks.Mine)

	audit := &Audit{audit: svc.Audit, out: out}
	api.GET("/audit", audit.List)

	exports := &Exports{exports: svc.Exports, loc: cfg.Location}
	api.GET("/exports/records", exports.Records)
	api.GET("/exports/totals", exports.Totals)
	api.GET("/exports/tasks/:id", exports.Task)
	reports := &Reports{summary: svc.Summary}
	api.GET("/reports/summary", reports.Summary)
	api.GET("/reports/summary.docx", reports.Document)

	indicators := &Indicators{indicators: svc.Indicators, out: out}
	api.POST("/indicators", idem, indicators.Create)
	api.GET("/indicators", indicators.List)
	api.GET("/indicators/:key", indicators.Get)
	api.GET("/indicators/:key/values", indicators.Values)

	totals := &Totals{totals: svc.Totals}
	api.GET("/totals", totals.Get)
	api.POST("/totals\\:verify", totals.Verify)
	api.POST("/totals\\:rebuild", totals.Rebuild)
	return &Router{Engine: r, health: health}, nil
}

// RootResponse points a visitor of / to the API documentation and the
// probes.
type RootResponse struct {
	Name string `json:"name" validate:"required" example:"huizong"`
	// Docs is the Swagger UI; it is absent when the UI is turned off
	// (swagger_ui: false).
	Docs    string `json:"docs,omitempty" example:"/swagger/index.html"`
	OpenAPI string `json:"openapi" validate:"required" example:"/swagger/doc.json"`
	Health  string `json:"health" validate:"required" example:"/healthz"`
	Ready   string `json:"ready" validate:"required" example:"/readyz"`
} //	@name	RootResponse

// root answers GET / with where to go next.
//
//	@Summary		服务索引 Service index
//	@Description	返回服务名称以及 API 文档（Swagger UI，启用时）、OpenAPI 规范和健康检查探针的链接。Names the service and links the API docs (Swagger UI, when it is on), the OpenAPI spec and the health probes.
//	@ID				root
//	@Tags			health
//	@Produce		json,application/problem+json
//	@Success		200		{object}	RootResponse
//	@Failure		400,503	{object}	Problem
//	@Header			503		{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/ [get]
func root(swaggerUI bool) gin.HandlerFunc {
	out := RootResponse{Name: "huizong", OpenAPI: "/swagger/doc.json", Health: "/healthz", Ready: "/readyz"}
	if swaggerUI {
		out.Docs = "/swagger/index.html"
	}
	return func(c *gin.Context) { c.JSON(http.StatusOK, out) }
}

// swaggerCSP is the Content-Security-Policy of the Swagger UI pages: only
// their own scripts and styles (the index page inlines a few), no framing.
const swaggerCSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"

// swaggerDocs serves the OpenAPI spec at /swagger/doc.json and, when ui is
// set, the Swagger UI (index.html and its assets) beside it, under a strict
// CSP and X-Frame-Options: DENY. The spec is answered here rather than by
// gin-swagger, which picks the file from anywhere in the raw request URI
// (/swagger/doc.json?index.html would be the UI).
func swaggerDocs(ui bool) gin.HandlerFunc {
	pages := ginSwagger.WrapHandler(swaggerFiles.Handler)
	return func(c *gin.Context) {
		switch path := c.Param("any"); {
		case path == "/doc.json":
			c.Data(http.StatusOK, "application/json; charset=utf-8", docs.JSON())
		case !ui:
			writeProblem(c, http.StatusNotFound, "not_found", nil)
		case path == "/":
			c.Redirect(http.StatusFound, "index.html")
		default:
			c.Header("Content-Security-Policy", swaggerCSP)
			c.Header("X-Frame-Options", "DENY")
			pages(c)
		}
	}
}

// Policy returns the minimum role of a route key ("METHOD /path" as Gin
// lists it) and whether the policy table has it; "" is a public route.
func Policy(route string) (services.Role, bool) {
	role, ok := policy[route]
	return role, ok
}
