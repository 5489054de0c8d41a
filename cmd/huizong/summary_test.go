package main

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
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
				continue
			}
			// The figure is a number of that row (a sum, a count, a rate,
			// the previous period's, or what changed since).
			var raw struct {
				Rows []map[string]any `json:"rows"`
			}
			s.must(http.StatusOK, req{method: "GET", path: f.TotalsURL, token: adminA}).decode(t, &raw)
			if !slices.ContainsFunc(rowNumbers(raw.Rows[0]), func(x float64) bool { return math.Abs(x-f.Value) < 1e-9 }) {
				t.Errorf("figure %s (%v) is no number of %v", f.Text, f.Value, raw.Rows[0])
			}
		}
	}
	for cat, want := range map[string]string{
		"safety":    "全区共开展消防、地震等应急疏散演练6场次，参与学生4.52万人次",
		"aid":       "全区落实学前教育资助等资助政策，资助学生1040名，发放资助金52.00万元。",
		"petitions": "全区共受理12345热线等信访件24件，办结24件，信访办结率达100%，信访满意率达100%。",
	} {
		if !strings.Contains(texts[cat], want) {
			t.Errorf("%s: %q lacks %q", cat, texts[cat], want)
		}
	}
	if !strings.Contains(texts["safety"], "较上年增加4场次，学校覆盖率达100%。") {
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
	// The Word draft: title, headings, paragraphs, and per category the
	// 统计表 whose 合计 equals the totals.
	doc := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/reports/summary?format=docx&org_id=" + w.distA + "&period=2025AY", token: adminA})
	if ct := doc.header.Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" {
		t.Errorf("docx content type %q", ct)
	}
	if cd := doc.header.Get("Content-Disposition"); !strings.Contains(cd, url.PathEscape(d.Title+".docx")) {
		t.Errorf("docx disposition %q", cd)
	}
	paras, tables := wordText(t, doc.body)
	if len(paras) == 0 || paras[0] != d.Title {
		t.Errorf("docx title: %q", paras)
	}
	for _, want := range []string{"一、平安校园建设", texts["safety"], texts["aid"]} {
		if !slices.Contains(paras, want) {
			t.Errorf("docx lacks paragraph %q in %q", want, paras)
		}
	}
	if len(tables) < 3 {
		t.Fatalf("docx has %d tables", len(tables))
	}
	safety := tables[0]
	total := safety[len(safety)-1]
	col := slices.IndexFunc(safety[0], func(h string) bool { return strings.HasSuffix(h, "·场次") })
	if total[0] != "合计" || col < 0 || total[col] != "6" {
		t.Errorf("safety table: header %q, total %q", safety[0], total)
	}
	pdoc := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/reports/summary?format=docx&period=2025AY", token: w.tokens["principalA1"]})
	if _, tables := wordText(t, pdoc.body); len(tables) != 0 {
		t.Errorf("a principal's draft has %d tables", len(tables))
	}
	s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/reports/summary?format=pdf", token: adminA})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/reports/summary?org_id=" + w.distB, token: adminA})
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/reports/summary", token: w.tokens["teacherA1"]})
}

// TestSummaryPatterns: a bureau rewords a template's sentence through the
// templates API (no release); each-lists and left-out clauses; a bad
// pattern is a 422 naming the placeholder.
func TestSummaryPatterns(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA1": adminA}}
	honour := func(level, category string, n int) map[string]any {
		return map[string]any{"client_id": uuid(), "template": "honor_award", "occurred_on": "2025-12-01", "title": "表彰",
			"data": map[string]any{"level": level, "recipient_kind": "教师", "category": category, "count": n}}
	}
	a.approve("principalA1", honour("市级", "优秀班主任", 53))
	a.approve("principalA1", honour("市级", "三好学生", 110))
	a.approve("teacherA1", honour("省级", "优秀班主任", 2))
	draft := func() map[string]string {
		var d struct {
			Paragraphs []struct {
				Category string `json:"category"`
				Text     string `json:"text"`
				Figures  []struct {
					Text      string `json:"text"`
					TotalsURL string `json:"totals_url"`
				} `json:"figures"`
			} `json:"paragraphs"`
		}
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/reports/summary?org_id=" + w.distA + "&period=2025AY", token: adminA}).decode(t, &d)
		out := map[string]string{}
		for _, p := range d.Paragraphs {
			out[p.Category] = p.Text
			for _, f := range p.Figures {
				u, _ := url.Parse(f.TotalsURL)
				if b := s.totals(adminA, u.RawQuery); len(b.Rows) != 1 {
					t.Errorf("figure %s: %s answers %d rows", f.Text, f.TotalsURL, len(b.Rows))
				}
			}
		}
		return out
	}
	// The built-in pattern: every category with its count, most first;
	// no previous year, so the change clause is left out.
	if got, want := draft()["awards"], "全区共获市级、省级等表彰165名，其中三好学生110名、优秀班主任55名。"; got != want {
		t.Errorf("awards:\n got %s\nwant %s", got, want)
	}
	var tmpl struct {
		Version int64 `json:"version"`
		Summary struct {
			ZH string `json:"zh"`
		} `json:"summary"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/honor_award", token: adminA}).decode(t, &tmpl)
	if !strings.Contains(tmpl.Summary.ZH, "{category:count}") {
		t.Fatalf("built-in pattern %q", tmpl.Summary.ZH)
	}
	// A district rewords the built-in sentence in its extension (the
	// series stays one); a bad pattern is a 422 naming the placeholder.
	extend := func(version int, pattern string) response {
		h := map[string]string{}
		if version > 0 {
			h["If-Match"] = fmt.Sprintf(`"v%d"`, version)
		}
		return s.do(req{method: "PUT", path: "/api/v1/templates/honor_award/extension", token: adminA, header: h,
			body: map[string]any{"options": map[string]any{"category": []map[string]any{{"value": "诚信好少年"}}},
				"summary": map[string]any{"zh": pattern}}})
	}
	for _, tc := range []struct{ pattern, detail string }{
		{"{scope}表彰{categry:count}。", "{categry:count}"},
		{"{scope}表彰{count.total}。", "{count.total}"},
		{"{scope}表彰{issuer}。", "{issuer}"},
		{"{scope}表彰{count。", "{count。"},
		{"{scope}表彰count}。", "count}"},
	} {
		r := extend(0, tc.pattern)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"field":"summary.zh"`) ||
			!strings.Contains(string(r.body), tc.detail) {
			t.Errorf("pattern %q: %d %s", tc.pattern, r.status, r.body)
		}
	}
	// Reworded without a release: the district's draft follows; a clause
	// whose figure is empty (no previous year) is left out with its comma.
	if r := extend(0, "{scope}表彰{level:count}，共{records}批次，去年{count.previous}。"); r.status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.status, r.body)
	}
	if got, want := draft()["awards"], "全区表彰市级163名、省级2名，共3批次。"; got != want {
		t.Errorf("reworded:\n got %s\nwant %s", got, want)
	}
	// A template a district defines carries its own wording, checked.
	body := map[string]any{"key": "reading_month", "name": "读书月", "category": "activities",
		"fields":  []map[string]any{{"key": "books", "label": "阅读量", "type": "integer", "role": "measure", "unit": "册"}},
		"summary": map[string]any{"zh": "{scope}读书月共读书{book}。"}}
	if r := s.do(req{method: "POST", path: "/api/v1/templates", token: adminA, body: body}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(r.body), "{book}") {
		t.Errorf("bad pattern on create: %d %s", r.status, r.body)
	}
	body["summary"] = map[string]any{"zh": "{scope}读书月共读书{books}。"}
	var created struct {
		Summary struct {
			ZH string `json:"zh"`
		} `json:"summary"`
	}
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: adminA, body: body}).decode(t, &created)
	if created.Summary.ZH != "{scope}读书月共读书{books}。" {
		t.Errorf("created summary %q", created.Summary.ZH)
	}
}

// wordText reads a DOCX's body: the text of each paragraph outside
// tables, and each table as rows of cell texts.
func wordText(t *testing.T, b []byte) (paras []string, tables [][][]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("docx: %v", err)
	}
	f, err := zr.Open("word/document.xml")
	if err != nil {
		t.Fatalf("docx: %v", err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var text strings.Builder
	depth := 0 // tables open
	var row []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("docx xml: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "tbl":
				depth++
				tables = append(tables, nil)
			case "tr":
				row = nil
			case "p", "tc":
				if e.Name.Local == "tc" || depth == 0 {
					text.Reset()
				}
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "tbl":
				depth--
			case "tr":
				tables[len(tables)-1] = append(tables[len(tables)-1], row)
			case "tc":
				row = append(row, text.String())
			case "p":
				if depth == 0 && text.Len() > 0 {
					paras = append(paras, text.String())
				}
			}
		case xml.CharData:
			text.Write(e)
		}
	}
	return paras, tables
}

// rowNumbers are the numbers of a totals row: every number in it, and
// each sum less the previous period's.
func rowNumbers(row map[string]any) []float64 {
	var out []float64
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case float64:
			out = append(out, x)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(row)
	sums, _ := row["sums"].(map[string]any)
	if prev, ok := row["previous"].(map[string]any); ok {
		ps, _ := prev["sums"].(map[string]any)
		for k, v := range sums {
			a, _ := v.(float64)
			b, _ := ps[k].(float64)
			out = append(out, a-b)
		}
	}
	return out
}
