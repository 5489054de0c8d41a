package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/services"
)

// Auth serves sign-in, tokens, the caller's own account and sessions.
type Auth struct {
	auth *services.Auth
	out  presenter
}

// LoginRequest signs in with a username or mobile number.
type LoginRequest struct {
	Username string `json:"username" binding:"required" example:"13800138000"`
	Password string `json:"password" binding:"required" example:"correct horse battery"`
	// Device names the phone or browser, shown in the session list.
	Device string `json:"device,omitempty" example:"iPhone 15"`
} //	@name	LoginRequest

// RefreshRequest exchanges a refresh token for a new pair.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token" binding:"required"`
} //	@name	RefreshRequest

// TokenResponse is a token pair.
type TokenResponse struct {
	AccessToken  string `json:"access_token" validate:"required"`
	RefreshToken string `json:"refresh_token" validate:"required"`
	TokenType    string `json:"token_type" validate:"required" example:"Bearer"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int `json:"expires_in" validate:"required" example:"900"`
} //	@name	TokenResponse

func tokenResponse(p services.TokenPair) TokenResponse {
	return TokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer", ExpiresIn: int(p.ExpiresIn.Seconds())}
}

// Login signs in.
//
//	@Summary		登录 Sign in
//	@Description	使用用户名或手机号及密码登录，返回短期有效的访问令牌和长期有效的刷新令牌，二者绑定一个新的设备会话。按账号和客户端 IP 限流（429，带 Retry-After）。用户名错误与密码错误的应答相同。Signs in with a username or mobile number and a password and returns a short-lived access token and a long-lived refresh token bound to a new device session. Throttled per account and per client IP (429 with Retry-After). A wrong username and a wrong password answer alike.
//	@ID				login
//	@Tags			auth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body						body		LoginRequest	true	"Credentials"
//	@Success		200							{object}	TokenResponse
//	@Failure		400,401,413,415,422,429,503	{object}	Problem
//	@Header			429							{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503							{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/auth/login [post]
func (h *Auth) Login(c *gin.Context) {
	var req LoginRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	var v services.Validation
	if req.Username == "" {
		v.Add("username", "required")
	}
	if req.Password == "" {
		v.Add("password", "required")
	}
	if len(req.Username) > 128 {
		v.Add("username", "max_length", "max", 128)
	}
	if len(req.Password) > 1024 {
		v.Add("password", "max_length", "max", 1024)
	}
	if len(req.Device) > 100 {
		v.Add("device", "max_length", "max", 100)
	}
	if err := v.Err("login"); err != nil {
		respondError(c, err)
		return
	}
	pair, err := h.auth.Login(c.Request.Context(), services.Credentials{
		Login: req.Username, Password: req.Password, Device: req.Device,
		UserAgent: truncate(c.Request.UserAgent(), 200), IP: c.ClientIP(),
	})
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, tokenResponse(pair))
}

// Refresh rotates a refresh token.
//
//	@Summary		刷新令牌 Refresh tokens
//	@Description	用刷新令牌换取新的访问令牌和新的刷新令牌，旧刷新令牌随即失效。出示已使用过的刷新令牌会吊销整个会话（视为令牌被盗），但短暂宽限期内的重试除外，重试得到同一对新令牌。Exchanges a refresh token for a new access token and a new refresh token; the old one stops working. Presenting an already-used refresh token revokes the whole session (theft), except a retry within a short grace window, which gets the same new pair.
//	@ID				refresh
//	@Tags			auth
//	@Accept			json
//	@Produce		json,application/problem+json
//	@Param			body						body		RefreshRequest	true	"Refresh token"
//	@Success		200							{object}	TokenResponse
//	@Failure		400,401,413,415,422,429,503	{object}	Problem
//	@Header			429							{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503							{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/auth/refresh [post]
func (h *Auth) Refresh(c *gin.Context) {
	var req RefreshRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	if req.RefreshToken == "" || len(req.RefreshToken) > 512 {
		respondError(c, services.Invalid("refresh", services.Field("refresh_token", "required")))
		return
	}
	pair, err := h.auth.Refresh(c.Request.Context(), req.RefreshToken, c.ClientIP())
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, tokenResponse(pair))
}

// Logout ends the caller's session.
//
//	@Summary		退出登录 Sign out
//	@Description	吊销该访问令牌所属的会话：其刷新令牌立即失效。Revokes the session of the access token: its refresh token stops working at once.
//	@ID				logout
//	@Tags			auth
//	@Security		BearerAuth
//	@Success		204
//	@Produce		application/problem+json
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/auth/logout [post]
func (h *Auth) Logout(c *gin.Context) {
	if err := h.auth.Logout(c.Request.Context(), caller(c)); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// MeResponse is the signed-in user.
type MeResponse struct {
	UserResponse
	SessionID string `json:"session_id" validate:"required" example:"06cwch3r02dteh65d0t7798wjw"`
} //	@name	Me

// Me returns the caller.
//
//	@Summary		当前用户 Who am I
//	@Description	返回当前登录的用户，包括决定其可见范围的角色和组织单位。Returns the signed-in user, with the role and org unit that decide what they can see.
//	@ID				getMe
//	@Tags			auth
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Success		200				{object}	MeResponse
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/me [get]
func (h *Auth) Me(c *gin.Context) {
	p := caller(c)
	c.JSON(http.StatusOK, MeResponse{UserResponse: h.out.user(p.User), SessionID: p.SessionID})
}

// ChangePasswordRequest changes the caller's password.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password" validate:"required"`
	NewPassword     string `json:"new_password" validate:"required"`
} //	@name	ChangePasswordRequest

// ChangePassword changes the caller's password.
//
//	@Summary		修改我的密码 Change my password
//	@Description	修改调用者的密码，并注销其所有其他会话。Changes the caller's password and signs out every other session.
//	@ID				changeMyPassword
//	@Tags			auth
//	@Security		BearerAuth
//	@Accept			json
//	@Param			body	body	ChangePasswordRequest	true	"Passwords"
//	@Success		204
//	@Produce		application/problem+json
//	@Failure		400,401,403,413,415,422,429,503	{object}	Problem
//	@Header			429								{string}	Retry-After	"Seconds to wait before trying again"
//	@Header			503								{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/me/password [put]
func (h *Auth) ChangePassword(c *gin.Context) {
	var req ChangePasswordRequest
	if err := bindJSON(c, &req); err != nil {
		respondError(c, err)
		return
	}
	if err := h.auth.ChangePassword(c.Request.Context(), caller(c), req.CurrentPassword, req.NewPassword); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// SessionResponse is one signed-in device.
type SessionResponse struct {
	ID         string `json:"id" validate:"required" example:"06cwch3r02dteh65d0t7798wjw"`
	Device     string `json:"device,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	IP         string `json:"ip,omitempty"`
	Current    bool   `json:"current" validate:"required"`
	CreatedAt  string `json:"created_at" validate:"required" format:"date-time" example:"2025-10-09T08:00:00+08:00"`
	LastUsedAt string `json:"last_used_at,omitempty" format:"date-time" example:"2025-10-09T08:30:00+08:00"`
	ExpiresAt  string `json:"expires_at" validate:"required" format:"date-time" example:"2025-11-08T08:00:00+08:00"`
} //	@name	Session

// SessionList lists the caller's sessions.
type SessionList struct {
	Items      []SessionResponse `json:"items" validate:"required"`
	NextCursor string            `json:"next_cursor" validate:"required"`
} //	@name	SessionList

// Sessions lists the caller's active sessions.
//
//	@Summary		我的会话 My sessions
//	@Description	列出调用者已登录的设备，按时间倒序，以便注销丢失的手机。Lists the caller's signed-in devices, newest first, so a lost phone can be signed out.
//	@ID				listMySessions
//	@Tags			auth
//	@Security		BearerAuth
//	@Produce		json,application/problem+json
//	@Success		200				{object}	SessionList
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/me/sessions [get]
func (h *Auth) Sessions(c *gin.Context) {
	p := caller(c)
	sessions, err := h.auth.Sessions(c.Request.Context(), p)
	if err != nil {
		respondError(c, err)
		return
	}
	out := SessionList{Items: make([]SessionResponse, 0, len(sessions))}
	for _, s := range sessions {
		out.Items = append(out.Items, SessionResponse{
			ID: s.ID, Device: s.Device, UserAgent: s.UserAgent, IP: s.IP, Current: s.ID == p.SessionID,
			CreatedAt: h.out.time(s.CreatedAt), LastUsedAt: h.out.time(s.LastUsedAt), ExpiresAt: h.out.time(s.ExpiresAt),
		})
	}
	c.JSON(http.StatusOK, out)
}

// RevokeSession signs out one of the caller's devices.
//
//	@Summary		注销设备 Sign out a device
//	@Description	吊销调用者的某个会话（如丢失的手机）：其刷新令牌和访问令牌均失效。Revokes one of the caller's sessions (a lost phone): its refresh token and access tokens stop working.
//	@ID				revokeMySession
//	@Tags			auth
//	@Security		BearerAuth
//	@Param			id	path	string	true	"Session id"
//	@Success		204
//	@Produce		application/problem+json
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/me/sessions/{id} [delete]
func (h *Auth) RevokeSession(c *gin.Context) {
	if err := h.auth.RevokeSession(c.Request.Context(), caller(c), c.Param("id")); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// RotateKeys starts signing with a new key.
//
//	@Summary		轮换签名密钥 Rotate the signing key
//	@Description	生成新的令牌签名密钥：新令牌立即使用新密钥，用旧密钥签发的令牌在过期前仍然有效，因此不会有人被迫退出登录。Generates a new token signing key; new tokens use it at once and tokens signed with older keys stay valid until they expire, so nobody is signed out.
//	@ID				rotateSigningKeys
//	@Tags			admin
//	@Security		BearerAuth
//	@Success		204
//	@Produce		application/problem+json
//	@Failure		400,401,403,503	{object}	Problem
//	@Header			503				{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/admin/signing-keys:rotate [post]
func (h *Auth) RotateKeys(c *gin.Context) {
	// Keys older than a day are retired: every access token they signed
	// has long expired.
	if _, err := h.auth.RotateKeys(c.Request.Context(), caller(c), 24*time.Hour); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
