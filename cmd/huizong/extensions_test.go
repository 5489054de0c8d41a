package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

type templateBody struct {
	Fields []struct {
		Key     string `json:"key"`
		Options []struct {
			Value string `json:"value"`
		} `json:"options"`
	} `json:"fields"`
	Extensions []struct {
		OrgID   string `json:"org_id"`
		Version int64  `json:"version"`
	} `json:"extensions"`
}

func (b templateBody) options(field string) []string {
	for _, f := range b.Fields {
		if f.Key == field {
			var out []string
			for _, o := range f.Options {
				out = append(out, o.Value)
			}
			return out
		}
	}
	return nil
}

func (b templateBody) has(field string) bool {
	return slices.ContainsFunc(b.Fields, func(f struct {
		Key     string `json:"key"`
		Options []struct {
			Value string `json:"value"`
		} `json:"options"`
	}) bool {
		return f.Key == field
	})
}

// TestTemplateExtensions: a district adds its own category (诚信好少年) and
// a field to honor_award keeping the key: its schools see and file them,
// other districts do not; totals keep one series, and a city total shows
// the district's own category as its own row; versions are pinned.
func TestTemplateExtensions(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	put := func(token, ifMatch string, body map[string]any, want int) response {
		t.Helper()
		h := map[string]string{}
		if ifMatch != "" {
			h["If-Match"] = ifMatch
		}
		return s.must(want, req{method: "PUT", path: "/api/v1/templates/honor_award/extension", token: token, body: body, header: h})
	}
	ext := map[string]any{"options": map[string]any{"category": []map[string]string{{"value": "诚信好少年"}}},
		"fields": []map[string]any{{"key": "sponsor", "label": "资助单位", "type": "text", "max_length": 50},
			// A dimension: totals recomputed without the pin would drift.
			{"key": "funding", "label": "经费来源", "type": "enum", "role": "dimension",
				"options": []map[string]string{{"value": "区财政"}, {"value": "社会捐助"}}}}}
	r := put(adminA, "", ext, http.StatusOK)
	if r.header.Get("ETag") != `"v1"` {
		t.Errorf("ETag %q", r.header.Get("ETag"))
	}

	// The district's schools see the merged definition; district B's do not.
	var tb templateBody
	resp := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/honor_award", token: w.tokens["teacherA1"]})
	resp.decode(t, &tb)
	if !slices.Contains(tb.options("category"), "诚信好少年") || !tb.has("sponsor") || len(tb.Extensions) != 1 {
		t.Errorf("school A1 sees %v, sponsor %v, extensions %+v", tb.options("category"), tb.has("sponsor"), tb.Extensions)
	}
	tagA := resp.header.Get("ETag")
	if !strings.HasPrefix(tagA, `"v1+`) {
		t.Errorf("merged ETag %q", tagA)
	}
	tb = templateBody{}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/honor_award", token: w.tokens["teacherB1"]}).decode(t, &tb)
	if slices.Contains(tb.options("category"), "诚信好少年") || tb.has("sponsor") {
		t.Errorf("district B sees district A's extension")
	}

	honor := func(category string, count int, extra map[string]any) map[string]any {
		data := map[string]any{"level": "市级", "recipient_kind": "学生", "category": category, "count": count}
		for k, v := range extra {
			data[k] = v
		}
		return map[string]any{"client_id": uuid(), "template": "honor_award", "occurred_on": "2025-11-03", "title": "表彰", "data": data}
	}
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "teacherB1": w.tokens["principalB1"]}}
	a.approve("teacherA1", honor("诚信好少年", 12, map[string]any{"sponsor": "区关工委", "funding": "社会捐助"}))
	a.approve("teacherA1", honor("三好学生", 30, nil))
	a.approve("teacherB1", honor("三好学生", 20, nil))
	p := s.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherB1"],
		body: honor("诚信好少年", 1, nil)}).problem(t)
	if !p.hasField("data.category") {
		t.Errorf("district B filed district A's category: %+v", p)
	}

	b := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=honor_award&group_by=level,category")
	if got := b.counts("count", "level", "category"); got["市级|诚信好少年"] != "1/12" || got["市级|三好学生"] != "1/30" {
		t.Errorf("district totals %v", got)
	}
	if got := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=honor_award&group_by=funding").counts("count", "funding"); got["社会捐助"] != "1/12" {
		t.Errorf("by the district's own dimension: %v", got)
	}
	c := s.totals(w.tokens["cityadmin"], "org_id="+w.city+"&period=2025AY&template=honor_award&group_by=org,category")
	if got := c.counts("count", "org", "category"); got[w.distA+"|诚信好少年"] != "1/12" || got[w.distB+"|三好学生"] != "1/20" || len(got) != 3 {
		t.Errorf("city totals %v", got)
	}

	// A second version needs the first's ETag; it may drop what the first
	// added, and records written against v1 keep it.
	put(adminA, "", ext, http.StatusPreconditionFailed)
	v2 := map[string]any{"options": map[string]any{"category": []map[string]string{{"value": "诚信好少年"}, {"value": "最美少年"}}}}
	if r := put(adminA, `"v1"`, v2, http.StatusOK); r.header.Get("ETag") != `"v2"` {
		t.Errorf("v2 ETag %q", r.header.Get("ETag"))
	}
	resp = s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/honor_award", token: w.tokens["teacherA1"]})
	if resp.header.Get("ETag") == tagA {
		t.Error("the merged ETag did not change with the extension")
	}
	s.must(http.StatusNotModified, req{method: "GET", path: "/api/v1/templates/honor_award", token: w.tokens["teacherA1"],
		header: map[string]string{"If-None-Match": resp.header.Get("ETag")}})
	tb = templateBody{}
	resp.decode(t, &tb)
	if tb.has("sponsor") || !slices.Contains(tb.options("category"), "最美少年") {
		t.Errorf("after v2: sponsor %v, categories %v", tb.has("sponsor"), tb.options("category"))
	}
	a.approve("teacherA1", honor("最美少年", 3, nil))

	// Bad extensions are named.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"options": map[string]any{"category": []map[string]string{{"value": "三好学生"}}}}, "options.category[0].value"},
		{map[string]any{"options": map[string]any{"issuer": []map[string]string{{"value": "x"}}}}, "options.issuer"},
		{map[string]any{"options": map[string]any{"nope": []map[string]string{{"value": "x"}}}}, "options.nope"},
		{map[string]any{"fields": []map[string]any{{"key": "level", "label": "级别", "type": "text"}}}, "fields[0].key"},
	} {
		p := put(adminA, `"v2"`, c.body, http.StatusUnprocessableEntity).problem(t)
		if !p.hasField(c.field) {
			t.Errorf("%v: %+v does not name %s", c.body, p, c.field)
		}
	}
	put(w.tokens["principalA1"], "", ext, http.StatusForbidden)
	var got struct {
		Version int64 `json:"version"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/honor_award/extension", token: adminA}).decode(t, &got)
	if got.Version != 2 {
		t.Errorf("extension version %d", got.Version)
	}
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/templates/honor_award/extension", token: w.tokens["adminB"]})

	// Totals stay exact: verify recomputes every record against its pins.
	var rep struct {
		Drifted int `json:"drifted"`
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/totals:verify", token: w.admin}).decode(t, &rep)
	if rep.Drifted != 0 {
		t.Errorf("verify: %d drifted", rep.Drifted)
	}
	if l := s.audit(adminA, map[string][]string{"kind": {"template_extended"}}); len(l.Items) != 2 {
		t.Errorf("audit of the extensions: %+v", l.Items)
	}
}
