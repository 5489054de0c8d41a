package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Audit serves the audit log.
type Audit struct {
	audit *services.Audit
	out   presenter
}

// AuditEventResponse is one audit log entry.
type AuditEventResponse struct {
	ID string `json:"id" validate:"required" example:"01jd8m3q7k2x5v9w0r4t6y8z1c"`
	At string `json:"at" validate:"required" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	// Kind: login_failed, login, logout, session_revoked, refresh_reuse,
	// password_changed, password_reset, user_created, role_changed,
	// org_changed, user_disabled, user_enabled, signing_key_rotated,
	// template_created, template_updated, template_copied.
	Kind string `json:"kind" validate:"required" example:"login_failed"`
	// ActorID is who did it; empty on a failed sign-in and for the
	// operator's command line (actor_name "operator").
	ActorID   string `json:"actor_id,omitempty" example:"06cg5mq681cbkq3v6221cnmtc8"`
	ActorName string `json:"actor_name,omitempty" example:"wang.li"`
	// Login is what was typed on a sign-in attempt.
	Login       string `json:"login,omitempty" example:"zhang.san"`
	IP          string `json:"ip,omitempty" example:"203.0.113.9"`
	UserAgent   string `json:"user_agent,omitempty" example:"huizong-app/2.1 (Android 14)"`
	SubjectType string `json:"subject_type,omitempty" example:"user"`
	SubjectID   string `json:"subject_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1b"`
	SubjectName string `json:"subject_name,omitempty" example:"zhang.san"`
	// OrgID is the unit the event belongs to (the account's unit, the
	// template's owner); empty for events of the whole deployment.
	OrgID  string `json:"org_id,omitempty" example:"01jd8m3q7k2x5v9w0r4t6y8z1a"`
	Detail string `json:"detail,omitempty" example:"wrong_password"`
} //	@name	AuditEvent

// AuditList is one page of audit events, newest first.
type AuditList struct {
	Items      []AuditEventResponse `json:"items" validate:"required"`
	NextCursor string               `json:"next_cursor" validate:"required"`
} //	@name	AuditList

func (p presenter) auditEvent(e services.AuditEvent) AuditEventResponse {
	r := AuditEventResponse{ID: e.ID, At: p.time(e.At), Kind: string(e.Kind), ActorID: e.ActorID, ActorName: e.ActorName,
		Login: e.Login, IP: e.IP, UserAgent: e.UserAgent, SubjectType: e.SubjectType, SubjectID: e.SubjectID,
		SubjectName: e.SubjectName, Detail: e.Detail}
	if len(e.OrgPath) > 0 {
		r.OrgID = e.OrgPath[len(e.OrgPath)-1]
	}
	return r
}

// List lists audit events.
//
//	@Summary		审计日志 Audit log
//	@Description	账号与安全事件，按时间倒序：登录失败（输入的登录名、客户端地址和原因：unknown_login、wrong_password、account_disabled……）、登录、退出登录和会话吊销、刷新令牌重复使用、修改和重置密码、创建账号、角色和单位变更、停用和启用账号、签名密钥轮换以及模板变更。系统管理员可查看全部事件；市级管理员和区县管理员可查看本单位及其下级单位的事件（不属于任何单位的事件，如未知登录名的登录失败或密钥轮换，仅系统管理员可见）。筛选条件：kind（逗号分隔）、actor_id、subject_id、from 和 to（部署所在时区的日期 YYYY-MM-DD，包含 to 当天；或 RFC 3339 时间戳，不含 to）。游标分页。Account and security events, newest first: failed sign-ins (the login typed, the client address and the reason: unknown_login, wrong_password, account_disabled ...), sign-ins, sign-outs and session revocations, refresh-token reuse, password changes and resets, accounts created, role and unit changes, accounts disabled and enabled, signing-key rotations and template changes. System administrators read every event; city and district administrators the events of their unit's subtree (events of no unit, such as a failed sign-in with an unknown login or a key rotation, are for system administrators). Filters: kind (comma-separated), actor_id, subject_id, from and to (a date YYYY-MM-DD in the deployment's zone, to included, or an RFC 3339 timestamp, to excluded). Cursor-paginated.
//	@ID				listAuditEvents
//	@Tags			admin
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Param			kind				query		string	false	"Event kinds, comma-separated (login_failed,login ...)"
//	@Param			actor_id			query		string	false	"Events done by this user"
//	@Param			subject_id			query		string	false	"Events about this account, template or key"
//	@Param			from				query		string	false	"From this date or time on"
//	@Param			to					query		string	false	"Up to this date (included) or time (excluded)"
//	@Param			limit				query		int		false	"Page size (1-100, default 20)"
//	@Param			cursor				query		string	false	"next_cursor of the previous page"
//	@Success		200					{object}	AuditList
//	@Failure		400,401,403,422,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/audit [get]
func (h *Audit) List(c *gin.Context) {
	const op = "audit.list"
	pg, err := page(c)
	if err != nil {
		respondError(c, err)
		return
	}
	q := services.AuditQuery{ActorID: c.Query("actor_id"), SubjectID: c.Query("subject_id"), Page: pg}
	for _, f := range []struct{ name, val string }{{"actor_id", q.ActorID}, {"subject_id", q.SubjectID}} {
		if f.val != "" && !filterPattern.MatchString(f.val) {
			respondError(c, badField(op, f.name, "format", nil))
			return
		}
	}
	if s := c.Query("kind"); s != "" {
		for _, k := range strings.Split(s, ",") {
			q.Kinds = append(q.Kinds, services.AuditKind(strings.TrimSpace(k)))
		}
	}
	if q.From, err = h.out.instant(c.Query("from"), false); err != nil {
		respondError(c, badField(op, "from", "timestamp", nil))
		return
	}
	if q.To, err = h.out.instant(c.Query("to"), true); err != nil {
		respondError(c, badField(op, "to", "timestamp", nil))
		return
	}
	events, err := h.audit.List(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	out := AuditList{Items: make([]AuditEventResponse, 0, len(events))}
	for _, e := range events {
		out.Items = append(out.Items, h.out.auditEvent(e))
	}
	if len(events) > 0 {
		out.NextCursor = nextCursor(len(events), pg.Normalize().Limit, events[len(events)-1].ID)
	}
	c.JSON(http.StatusOK, out)
}

// instant reads a bound of a time range: an RFC 3339 timestamp, or a date
// in the deployment's zone meaning its start (or, with end, the start of
// the next day, so the day is included). "" is the zero time.
func (p presenter) instant(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, p.loc); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}
