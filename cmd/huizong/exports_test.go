package main

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
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
	for _, q := range []string{"format=pdf", "period=nonsense", "template=no_such", "from=2025-13-01"} {
		r := s.do(req{method: "GET", path: "/api/v1/exports/records?" + q, token: adminA})
		if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d", q, r.status)
		}
	}
	if l := s.audit(adminA, url.Values{"kind": {"records_exported"}}); len(l.Items) < 4 {
		t.Errorf("exports audited: %d", len(l.Items))
	}
	// Nothing matched: still a workbook that opens.
	r = get("org_id=" + w.distA + "&period=2020")
	if _, err := excelize.OpenReader(bytes.NewReader(r.body)); err != nil {
		t.Errorf("empty export: %v", err)
	}
}
