package handlers

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// Health answers the liveness and readiness probes.
type Health struct {
	store    Readiness
	draining atomic.Bool
}

// HealthResponse is the body of /healthz and /readyz.
type HealthResponse struct {
	Status string `json:"status" validate:"required" example:"ok"`
	Store  string `json:"store,omitempty" example:"sqlite"`
} //	@name	HealthResponse

// Live reports that the process is up.
//
//	@Summary		存活检查 Liveness
//	@Description	进程运行期间返回 200；不访问数据库。Answers 200 while the process runs; it does not touch the database.
//	@ID				healthz
//	@Tags			health
//	@Produce		json,application/problem+json
//	@Success		200	{object}	HealthResponse
//	@Router			/healthz [get]
func (h *Health) Live(c *gin.Context) {
	c.JSON(http.StatusOK, HealthResponse{Status: "ok"})
}

// Ready reports whether the store answers and names it; it answers 503
// while the server shuts down so load balancers stop sending requests.
//
//	@Summary		就绪检查 Readiness
//	@Description	数据库可用时返回 200 及所用的存储（sqlite 或 mongodb）；否则或正在关闭时返回 503。Answers 200 with the store in use (sqlite or mongodb) when the database answers, 503 otherwise or while shutting down.
//	@ID				readyz
//	@Tags			health
//	@Produce		json,application/problem+json
//	@Success		200	{object}	HealthResponse
//	@Failure		503	{object}	Problem
//	@Header			503	{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/readyz [get]
func (h *Health) Ready(c *gin.Context) {
	if h.draining.Load() {
		c.Header("Retry-After", "5")
		writeProblem(c, http.StatusServiceUnavailable, "unavailable", nil)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		c.Header("Retry-After", "5")
		writeProblem(c, http.StatusServiceUnavailable, "unavailable", nil)
		return
	}
	c.JSON(http.StatusOK, HealthResponse{Status: "ok", Store: h.store.Name()})
}
