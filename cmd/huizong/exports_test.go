package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/export"
)

// TestExportRecords: records come out as the sheets bureau staff would
// have typed: a sheet per template named in Chinese, labelled columns
// with units, option labels, numbers as numbers, dates as dates, who and
// where; CSV with a BOM (zipped per template); formula injection
// neutralised; a Chinese file name; the export audited.
func TestExportRecords(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": adminA}}
	drill := drillOn("2025-10-09", "消防", 1180)
	drill["data"].(map[string]any)["problems"] = "=HYPERLINK(\"http://evil\",\"click\")"
	a.approve("teacherA1", drill)
	a.approve("principalA2", drillOn("2025-11-20", "地震", 600))
	a.approve("principalA2", map[string]any{"client_id": uuid(), "template": "construction", "occurred_on": "2025-10-01", "title": "新建教学楼",
		"data": map[string]any{"kind": "新建", "stage": "竣工", "investment_wan": 1250.5, "seats_added": 450}})
	s.createRecord(w.tokens["teacherB1"], drillOn("2025-10-10", "消防", 10)) // another district: never exported

	get := func(query string) response {
		t.Helper()
		return s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/records?" + query, token: adminA})
	}
	// XLSX of every template: a sheet each.
	r := get("org_id=" + w.distA + "&period=2025AY")
	if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "spreadsheetml") {
		t.Errorf("Content-Type %q", ct)
	}
	cd := r.header.Get("Content-Disposition")
	if !strings.Contains(cd, "filename*=UTF-8''"+url.PathEscape("成华区_全部记录_2025学年.xlsx")) {
		t.Errorf("Content-Disposition %q", cd)
	}
	f, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("not a workbook: %v", err)
	}
	if got := f.GetSheetList(); !slices.Equal(got, []string{"校舍建设", "应急疏散演练"}) {
		t.Errorf("sheets %v", got)
	}
	rows, err := f.GetRows("应急疏散演练")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("drill rows %v", rows)
	}
	head := rows[0]
	for _, h := range []string{"类型", "场次", "参与学生人次", "学校/单位", "学校标识码", "区县", "填报人", "发生日期", "状态", "审核人", "记录编号"} {
		if !slices.Contains(head, h) {
			t.Errorf("header lacks %s: %v", h, head)
		}
	}
	col := func(h string) int { return slices.Index(head, h) }
	byKind := map[string][]string{}
	for _, row := range rows[1:] {
		byKind[row[col("类型")]] = row
	}
	fire := byKind["消防"]
	if fire == nil || fire[col("参与学生人次")] != "1180" || fire[col("学校/单位")] != "成华区实验小学" || fire[col("区县")] != "成华区" ||
		fire[col("状态")] != "已通过" || fire[col("填报人")] != "teacherA1" || fire[col("审核人")] != "principalA1" {
		t.Errorf("fire drill row %v", fire)
	}
	if got := fire[col("发现问题")]; !strings.HasPrefix(got, "'=") {
		t.Errorf("a formula came out as %q", got)
	}
	// Numbers are numbers, dates are dates.
	cell, _ := excelize.CoordinatesToCellName(col("参与学生人次")+1, 2)
	if typ, _ := f.GetCellType("应急疏散演练", cell); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
		t.Errorf("students cell type %v", typ)
	}
	cell, _ = excelize.CoordinatesToCellName(col("发生日期")+1, 2)
	if v, _ := f.GetCellValue("应急疏散演练", cell); v != "2025-10-09" && v != "2025-11-20" {
		t.Errorf("date cell shows %q", v)
	}
	if panes, err := f.GetPanes("应急疏散演练"); err != nil || !panes.Freeze {
		t.Errorf("header not frozen: %+v %v", panes, err)
	}
	crows, _ := f.GetRows("校舍建设")
	if len(crows) != 2 || !slices.Contains(crows[0], "投资(万元)") || crows[1][slices.Index(crows[0], "投资(万元)")] != "1250.5" {
		t.Errorf("construction rows %v", crows)
	}

	// CSV of one template: a BOM, the same columns.
	r = get("org_id=" + w.distA + "&period=2025AY&template=safety_drill&format=csv&data.kind=" + url.QueryEscape("消防"))
	if !bytes.HasPrefix(r.body, []byte("\xEF\xBB\xBF")) || !strings.Contains(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV without BOM: %q", r.body[:min(20, len(r.body))])
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body[3:])).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][slices.Index(recs[0], "发现问题")] != `'=HYPERLINK("http://evil","click")` {
		t.Errorf("CSV %v %v", recs, err)
	}
	// CSV of several templates: a zip of one file each.
	r = get("org_id=" + w.distA + "&period=2025AY&format=csv")
	z, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var names []string
	for _, zf := range z.File {
		names = append(names, zf.Name)
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
			t.Errorf("%s without BOM", zf.Name)
		}
	}
	if !slices.Equal(names, []string{"校舍建设.csv", "应急疏散演练.csv"}) {
		t.Errorf("zip holds %v", names)
	}

	// Scope and input.
	if r := get("org_id=" + w.distA + "&template=safety_drill&format=csv"); strings.Contains(string(r.body), "锦江区") {
		t.Error("another district's record was exported")
	}
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/exports/records?org_id=" + w.distB, token: adminA})
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/exports/records", token: w.tokens["teacherA1"]})
	for _, c := range []struct{ query, field string }{
		{"format=pdf", "format"}, {"period=nonsense", "period"}, {"template=no_such", "template"}, {"from=2025-13-01", "from"},
	} {
		p := s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/exports/records?" + c.query, token: adminA}).problem(t)
		if !p.hasField(c.field) {
			t.Errorf("%s: %+v does not name %s", c.query, p, c.field)
		}
	}
	if l := s.audit(adminA, url.Values{"kind": {"export"}}); len(l.Items) < 4 {
		t.Errorf("exports audited: %d", len(l.Items))
	}
	// A workbook is a zip already: not gzipped again, though over 1 KiB;
	// this CSV is under 1 KiB, so it goes plain (larger CSV is gzipped:
	// handlers.TestCompress).
	for format, want := range map[string]string{"xlsx": "", "csv": ""} {
		r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/records?template=safety_drill&format=" + format + "&org_id=" + w.distA,
			token: adminA, header: map[string]string{"Accept-Encoding": "gzip"}})
		if got := r.header.Get("Content-Encoding"); got != want {
			t.Errorf("%s: Content-Encoding %q, want %q", format, got, want)
		}
	}
	// Nothing matched: still a workbook that opens.
	r = get("org_id=" + w.distA + "&period=2020")
	if _, err := excelize.OpenReader(bytes.NewReader(r.body)); err != nil {
		t.Errorf("empty export: %v", err)
	}
}

// TestStatTable: the 统计表 a district files: its schools grouped under
// their stage with subtotals, then 合计; measures, the main dimension
// broken out, schools that filed, staff covered and indicators; every
// number equal to the totals API's.
func TestStatTable(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	// A third school: two primary schools and a middle school.
	var a3 idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/orgs", token: w.admin,
		body: map[string]any{"kind": "school", "name": "成华区第三小学", "parent_id": w.distA, "stages": []string{"小学"}}}).decode(t, &a3)
	for org, stages := range map[string][]string{w.schoolA1: {"小学"}, w.schoolA2: {"初中"}} {
		tag := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/orgs/" + org, token: w.admin}).header.Get("ETag")
		s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + org, token: w.admin, header: map[string]string{"If-Match": tag},
			body: map[string]any{"stages": stages}})
	}
	a := approver{s: s, w: w, approver: map[string]string{"teacherA1": w.tokens["principalA1"], "principalA2": adminA}}
	d := func(kind string, n, students int) map[string]any {
		b := drillOn("2025-10-09", kind, students)
		b["data"].(map[string]any)["drills"] = n
		return b
	}
	a.approve("teacherA1", d("消防", 2, 900))
	a.approve("teacherA1", d("地震", 1, 450))
	a.approve("principalA2", d("消防", 3, 1200))
	query := "org_id=" + w.distA + "&period=2025AY&template=safety_drill&indicator=drill_school_coverage"
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/totals?format=csv&" + query, token: adminA})
	if !strings.Contains(r.header.Get("Content-Disposition"), url.PathEscape("成华区_统计表_2025学年.csv")) {
		t.Errorf("Content-Disposition %q", r.header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.body, []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	col := func(h string) int {
		i := slices.Index(head, h)
		if i < 0 {
			t.Fatalf("no column %s in %v", h, head)
		}
		return i
	}
	rows := map[string][]string{}
	var labels []string
	for _, rec := range recs[1:] {
		rows[rec[0]] = rec
		labels = append(labels, rec[0])
	}
	want := []string{"成华区实验小学", "成华区第三小学", "小学小计", "成华区第二中学", "合计"}
	if !slices.Equal(labels, want) {
		t.Errorf("rows %v, want %v", labels, want)
	}
	check := func(row, column, want string) {
		t.Helper()
		if got := rows[row][col(column)]; got != want {
			t.Errorf("%s / %s = %q, want %q", row, column, got, want)
		}
	}
	check("成华区实验小学", "应急疏散演练·场次", "3")
	check("成华区实验小学", "应急疏散演练·场次·消防", "2")
	check("成华区实验小学", "应急疏散演练·场次·地震", "1")
	check("成华区第三小学", "应急疏散演练·场次", "0")
	check("小学小计", "应急疏散演练·场次", "3")
	check("小学小计", "学校数", "2")
	check("小学小计", "应急演练学校覆盖率(%)", "50")
	check("合计", "应急疏散演练·场次", "6")
	check("合计", "应急疏散演练·参与学生人次", "2550")
	check("合计", "应急疏散演练·开展学校数", "2")
	check("合计", "学校数", "3")
	check("合计", "应急演练学校覆盖率(%)", "66.7")
	// The same numbers as the totals API.
	b := s.totals(adminA, "org_id="+w.distA+"&period=2025AY&template=safety_drill")
	if len(b.Rows) != 1 || formatFloat(b.Rows[0].Sums["drills"]) != rows["合计"][col("应急疏散演练·场次")] ||
		formatFloat(b.Rows[0].Sums["students"]) != rows["合计"][col("应急疏散演练·参与学生人次")] {
		t.Errorf("totals %+v disagree with the table", b.Rows)
	}
	// The workbook has the table and a chart.
	r = s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/totals?" + query, token: adminA})
	f, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetSheetList(); !slices.Equal(got, []string{"统计表", "图表"}) {
		t.Errorf("sheets %v", got)
	}
	z, _ := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if !slices.ContainsFunc(z.File, func(f *zip.File) bool { return strings.HasPrefix(f.Name, "xl/charts/chart") }) {
		t.Error("no chart in the workbook")
	}
	p := s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/exports/totals?org_id=" + w.distA, token: adminA}).problem(t)
	if !p.hasField("template") {
		t.Errorf("without template: %+v", p)
	}
	p = s.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/api/v1/exports/totals?template=safety_drill,nope", token: adminA}).problem(t)
	if !p.hasField("template[1]") {
		t.Errorf("unknown template: %+v", p)
	}
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/exports/totals?template=safety_drill", token: w.tokens["principalA1"]})
	s.must(http.StatusForbidden, req{method: "GET", path: "/api/v1/exports/totals?template=safety_drill", token: w.tokens["teacherA1"]})
	// Another district's table does not exist for this admin.
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/exports/totals?template=safety_drill&org_id=" + w.distB, token: adminA})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/reports/summary?format=docx&org_id=" + w.distB, token: adminA})
	audited := 0
	for _, e := range s.audit(adminA, url.Values{"kind": {"export"}}).Items {
		if e.SubjectID == "/api/v1/exports/totals" && e.SubjectName == "成华区_统计表_2025学年" {
			audited++
		}
	}
	if audited != 2 {
		t.Errorf("统计表 exports audited %d times, want 2", audited)
	}
}

func formatFloat(x float64) string {
	return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(x, 'f', 4, 64), "0"), ".")
}

// TestExportTaskProgress: a task's progress sheet lists every target
// school with what it filed, its state and its principal's mobile.
func TestExportTaskProgress(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	today := s.clock.Now().In(s.cfg.Location)
	var task idOnly
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/tasks", token: adminA, body: map[string]any{
		"name": "本月应急演练", "templates": []string{"safety_drill"}, "period": today.Format("200601"),
		"due_on": today.AddDate(0, 0, 5).Format("2006-01-02")}}).decode(t, &task)
	s.createRecord(w.tokens["teacherA1"], drillOn(today.Format("2006-01-02"), "消防", 100))
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/tasks/" + task.ID + "?format=csv", token: adminA})
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.body, []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("sheet %v %v", recs, err)
	}
	head := recs[0]
	rows := map[string][]string{}
	for _, rec := range recs[1:] {
		rows[rec[0]] = rec
	}
	a1 := rows["成华区实验小学"]
	if a1 == nil || a1[slices.Index(head, "已提交")] != "1" || a1[slices.Index(head, "完成情况")] != "按时完成" ||
		a1[slices.Index(head, "校长")] != "principalA1" || a1[slices.Index(head, "联系电话")] != "13900000004" {
		t.Errorf("school A1 row %v (head %v)", a1, head)
	}
	if a2 := rows["成华区第二中学"]; a2 == nil || a2[slices.Index(head, "完成情况")] != "未完成" {
		t.Errorf("school A2 row %v", a2)
	}
	if !strings.Contains(r.header.Get("Content-Disposition"), url.PathEscape("本月应急演练_填报进度.csv")) {
		t.Errorf("Content-Disposition %q", r.header.Get("Content-Disposition"))
	}
	r = s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/tasks/" + task.ID, token: adminA})
	if _, err := excelize.OpenReader(bytes.NewReader(r.body)); err != nil {
		t.Errorf("xlsx: %v", err)
	}
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/exports/tasks/" + task.ID, token: w.tokens["adminB"]})
}

// TestExportTemplateVersions: records written against an older version
// land in the same sheet: shared keys under today's label, a field the
// template no longer has in a column of its own (已停用) with the old
// records' values.
func TestExportTemplateVersions(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	var tmpl struct {
		Version int64 `json:"version"`
	}
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: adminA, body: map[string]any{
		"key": "reading_month", "name": "读书月", "category": "activities",
		"fields": []map[string]any{
			{"key": "books", "label": "阅读量", "type": "integer", "role": "measure", "unit": "册"},
			{"key": "venue", "label": "场地", "type": "enum", "role": "dimension", "options": []map[string]any{{"value": "lib", "label": "图书馆"}}},
		}}}).decode(t, &tmpl)
	record := func(data map[string]any) {
		s.createRecord(w.tokens["teacherA1"], map[string]any{"client_id": uuid(), "template": "reading_month",
			"occurred_on": "2025-10-08", "title": "读书月", "data": data})
	}
	record(map[string]any{"books": 120, "venue": "lib"})
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/templates/reading_month", token: adminA,
		header: map[string]string{"If-Match": fmt.Sprintf(`"v%d"`, tmpl.Version)}, body: map[string]any{
			"fields": []map[string]any{{"key": "books", "label": "借阅册数", "type": "integer", "role": "measure", "unit": "册"}}}})
	record(map[string]any{"books": 80})
	r := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/exports/records?format=csv&template=reading_month&org_id=" + w.distA, token: adminA})
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.body, []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("CSV %v %v", recs, err)
	}
	head := recs[0]
	books, venue := slices.Index(head, "借阅册数"), slices.Index(head, "场地（已停用）")
	if books < 0 || venue < 0 || slices.Contains(head, "阅读量(册)") {
		t.Fatalf("header %q", head)
	}
	got := map[string]string{}
	for _, row := range recs[1:] {
		got[row[books]] = row[venue]
	}
	if want := map[string]string{"120": "图书馆", "80": ""}; !maps.Equal(got, want) {
		t.Errorf("books → venue %v, want %v", got, want)
	}
}

// TestExportStopsWhenClientGoes: an export whose client hangs up stops
// at once (never reads all of it), and the audit log says how many rows
// left before it stopped.
func TestExportStopsWhenClientGoes(t *testing.T) {
	s := newTestServer(t, map[string]string{"HUIZONG_RECORD_BURST": "100000"})
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	const n = 2*services.MaxLimit + 50 // more than a list page holds
	for done := 0; done < n; done += 50 {
		var batch []any
		for range 50 {
			batch = append(batch, drillOn("2025-10-09", "消防", 100))
		}
		s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records:batch", token: teacher, body: map[string]any{"records": batch}})
	}
	ctx := context.Background()
	admin, err := s.store.UserByLogin(ctx, "admina")
	if err != nil {
		t.Fatal(err)
	}
	p := services.Principal{User: admin}
	exports := s.app.svc.Exports
	q := export.ExportQuery{RecordQuery: services.RecordQuery{OrgID: w.distA, Template: "safety_drill"}}
	info, err := exports.Plan(ctx, p, &q)
	if err != nil {
		t.Fatal(err)
	}
	// The whole export first, then one whose client goes after ten rows.
	all := &hangUp{after: -1}
	if rows, err := exports.Write(ctx, p, q, info, all); err != nil || rows != n || all.rows != n {
		t.Fatalf("whole export: %d rows (%d written), %v", rows, all.rows, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := &hangUp{after: 10, cancel: cancel}
	rows, err := exports.Write(cctx, p, q, info, gone)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("export after the client went: %v", err)
	}
	if rows > 10 || gone.rows > 10 {
		t.Errorf("the export read on after the client went: %d rows", rows)
	}
	l := s.audit(w.tokens["adminA"], url.Values{"kind": {"export"}})
	if len(l.Items) < 2 || !strings.Contains(l.Items[0].Detail, "stopped") {
		t.Errorf("audit of the stopped export: %+v", l.Items)
	}
}

// hangUp is a sheet writer whose client goes after some rows.
type hangUp struct {
	after, rows int
	cancel      func()
}

func (h *hangUp) Sheet(string, []export.Column) error { return nil }

func (h *hangUp) Row([]export.SheetCell) error {
	h.rows++
	if h.rows == h.after {
		h.cancel()
	}
	return nil
}
