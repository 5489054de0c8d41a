package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/huizong/huizong/docs"
	"github.com/huizong/huizong/services"
)

// queryParams holds the query parameters each route accepts: those the
// served OpenAPI spec declares for it, so the spec an integrator reads
// and what the server takes cannot drift apart. A parameter a route does
// not know is refused (400 unknown_parameter): a misspelt filter
// silently ignored would answer an unfiltered figure as if filtered.
type queryParams struct {
	names map[string]map[string]bool // route key -> names
}

// queryPrefixes are families of parameters the spec describes in words,
// as no Swagger 2.0 parameter can: data.<key> filters records by a
// dimension value.
var queryPrefixes = map[string]string{
	"GET /api/v1/records":         "data.",
	"GET /api/v1/exports/records": "data.",
}

// specQueryParams reads the query parameters of every operation of the
// served spec.
func specQueryParams() (queryParams, error) {
	return parseQueryParams(string(docs.JSON()))
}

func parseQueryParams(doc string) (queryParams, error) {
	var spec struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				In   string `json:"in"`
				Name string `json:"name"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &spec); err != nil {
		return queryParams{}, fmt.Errorf("swagger: parse doc: %w", err)
	}
	qp := queryParams{names: map[string]map[string]bool{}}
	for path, ops := range spec.Paths {
		for method, op := range ops {
			names := map[string]bool{}
			for _, p := range op.Parameters {
				if p.In == "query" {
					names[p.Name] = true
				}
			}
			qp.names[strings.ToUpper(method)+" "+ginPath(path)] = names
		}
	}
	return qp, nil
}

// ginPath turns /orgs/{id} into /orgs/:id, as Gin names routes.
func ginPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			parts[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(parts, "/")
}

// accepts reports whether route takes the query parameter name.
func (qp queryParams) accepts(route, name string) bool {
	if qp.names[route][name] {
		return true
	}
	prefix, ok := queryPrefixes[route]
	return ok && strings.HasPrefix(name, prefix) && len(name) > len(prefix)
}

// knownQuery refuses a request carrying a query parameter its route does
// not declare, naming every such parameter.
func knownQuery(qp queryParams) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.URL.RawQuery == "" {
			c.Next()
			return
		}
		route := routeKey(c)
		var unknown []string
		for name := range c.Request.URL.Query() {
			if !qp.accepts(route, name) {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) == 0 {
			c.Next()
			return
		}
		sort.Strings(unknown)
		fields := make([]services.FieldError, len(unknown))
		for i, name := range unknown {
			fields[i] = services.FieldError{Field: name, Code: "unknown_parameter"}
		}
		writeProblem(c, http.StatusBadRequest, "unknown_parameter", fields)
		c.Abort()
	}
}
