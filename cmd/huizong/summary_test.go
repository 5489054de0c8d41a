package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSummaryDraft: the figures section of a work summary in the
// bureau's voice, each figure traceable to the totals query behind it,
// as JSON, Markdown and text.
func TestSummaryDraft(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": adminA, "principalA1": adminA}}
	drills := func(day, kind string, n, students int) map[string]any {
		b := drillOn(day, kind, students)
		b["data"].(map[string]any)["drills"] = n
		return b
	}
	a.approve("teacherA1", drills("2024-10-10", "消防", 2, 1000))
	a.approve("teacherA1", drills("2025-10-10", "消防", 4, 12000))
	a.approve("principalA2", drills("2025-11-10", "地震", 2, 33200))
	a.approve("principalA1", map[string]any{"client_id": uuid(), "template": "student_aid", "occurred_on": "2025-10-20", "title": "资助",
		"data": map[string]any{"program": "学前教育资助", "students": 1040, "amount_yuan": 520000}})
	a.approve("principalA1", map[string]any{"client_id": uuid(), "template": "petition", "occurred_on": "2025-10-21", "title": "信访",
		"data": map[string]any{"channel": "12345热线", "received": 24, "resolved": 24, "satisfied": 24}})

	var d struct {
		Title      string `json:"title"`
		Paragraphs []struct {
			Category string `json:"category"`
			Heading  string `json:"heading"`
			Text     string `json:"text"`
			Figures  []struct {
				Text      string  `json:"text"`
				Value     float64 `json:"value"`
				TotalsURL string  `json:"totals_url"`
			} `json:"figures"`
		} `json:"paragraphs"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/reports/summary?org_id=" + w.distA + "&period=2025AY", token: adminA}).decode(t, &d)
	if d.Title != "成华区教育局2025学年工作总结（数据部分）" {
		t.Errorf("title %q", d.Title)
	}
	texts := map[string]string{}
	for _, p := range d.Paragraphs {
		texts[p.Category] = p.Text
		for _, f := range p.Figures {
			u, err := url.Parse(f.TotalsURL)
			if err == nil && strings.HasPrefix(f.TotalsURL, "/api/v1/indicators/") {
				// An indicator's figure: its values call answers it.
				s.must(http.StatusOK, req{method: "GET", path: f.TotalsURL, token: adminA})
				continue
			}
			if err != nil || !strings.HasPrefix(f.TotalsURL, "/api/v1/totals?") {
				t.Errorf("figure %s: totals_url %q", f.Text, f.TotalsURL)
				continue
			}
			if b := s.totals(adminA, u.RawQuery); len(b.Rows) != 1 {
				t.Errorf("figure %s: its totals query answers %+v", f.Text, b.Rows)
			}
		}
	}
	for cat, want := range map[string]string{
		"safety":    "全区共开展消防、地震等应急疏散演练6场次，参与学生4.52万人次",
		"aid":       "受助人数1040名，资助金额52.00万元",
		"petitions": "信访办结率达100%，信访满意率达100%",
	} {
		if !strings.Contains(texts[cat], want) {
			t.Errorf("%s: %q lacks %q", cat, texts[cat], want)
		}
	}
	if !strings.Contains(texts["safety"], "较上年增加4场次") || !strings.Contains(texts["safety"], "学校覆盖率达100%") {
		t.Errorf("safety: %q", texts["safety"])
	}
	md := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/reports/summary?format=md&org_id=" + w.distA + "&period=2025AY", token: adminA})
	t.Logf("the draft:\n%s", md.body)
	if !strings.HasPrefix(string(md.body), "# 成华区教育局2025学年工作总结（数据部分）") || !strings.Contains(string(md.body), "## 一、平安校园建设") {
		t.Errorf("markdown:\n%s", md.body)
	}
	txt := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/reports/summary?format=txt&org_id=" + w.distA + "&period=2025AY", token: adminA})
	if !strings.Contains(string(txt.body), "　　全区共开展") {
		t.Errorf("text:\n%s", txt.body)
	}
	s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/reports/summary?format=pdf", token: adminA})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/reports/summary?org_id=" + w.distB, token: adminA})
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/reports/summary", token: w.tokens["teacherA1"]})
}
