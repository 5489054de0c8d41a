package handlers

import (
	"archive/zip"
	"compress/flate"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/export"
	"github.com/huizong/huizong/services/export/xlsx"
)

// Exports serves the files bureau staff take away.
type Exports struct {
	exports *export.Service
	loc     *time.Location
}

// Records exports records.
//
//	@Summary		导出记录 Export records (Excel, CSV)
//	@Description	按记录列表的筛选条件导出：每个模板一个工作表（以模板中文名命名），列为字段中文名（带单位），其后为学校、学校标识码、区县、填报人、发生日期、状态、审核人、审核通过时间、记录编号和附件链接。Records as bureau staff work with them, with the record list's filters (org_id subtree, template, status, period or from/to, author_id, and data.<key>=<value> per dimension): one sheet per template named by its Chinese name, a column per field headed by its label and unit (投资(万元)), options as their labels (several joined by 、), numbers as numbers, dates as dates, then school, school code, district, author, date, status, reviewer, approval time, record id and attachment links; a frozen header row and an autofilter. format=csv gives UTF-8 with a BOM (Excel on Chinese Windows opens it), one file for one template, else a zip of one CSV per template. Cells that start with = + - @ tab or CR are written as text. Rows are read from the store page by page, so memory stays flat; a client that hangs up stops the export. The file name names the unit, template and period (城区_应急疏散演练_2025学年.xlsx). Principals and admins; each export is in the audit log.
//	@ID				exportRecords
//	@Tags			exports
//	@Security		BearerAuth
//	@Produce		application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv,application/zip,application/problem+json
//	@Param			format					query		string	false	"xlsx (default) or csv"	Enums(xlsx, csv)
//	@Param			org_id					query		string	false	"Only this org unit and its subtree"
//	@Param			template				query		string	false	"Template key (default: every template, a sheet each)"
//	@Param			status					query		string	false	"Status, or several separated by commas (approved,submitted)"
//	@Param			period					query		string	false	"Period id (2025AY, 2025AY-S1, 2025, 2025Q1, 202503), instead of from/to"
//	@Param			from					query		string	false	"Occurred on or after (YYYY-MM-DD)"		Format(date)
//	@Param			to						query		string	false	"Occurred on or before (YYYY-MM-DD)"	Format(date)
//	@Param			author_id				query		string	false	"Only this author's records"
//	@Success		200						{file}		file
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/exports/records [get]
func (h *Exports) Records(c *gin.Context) {
	const op = "exports.records"
	format, ok := sheetFormat(c, op)
	if !ok {
		return
	}
	rq, err := recordQueryOf(c, op)
	if err != nil {
		respondError(c, err)
		return
	}
	q := export.ExportQuery{RecordQuery: rq, Period: c.Query("period")}
	ctx, p := c.Request.Context(), caller(c)
	info, err := h.exports.Plan(ctx, p, &q)
	if err != nil {
		respondError(c, err)
		return
	}
	var (
		sheets interface {
			export.SheetWriter
			Close(w io.Writer) error
		}
		ext, ctype string
	)
	switch {
	case format == "xlsx":
		sheets, ext, ctype = newStreamSheets(c.Writer), "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case q.Template != "":
		sheets, ext, ctype = newCSVSheets(c.Writer, false), "csv", "text/csv; charset=utf-8"
	default:
		sheets, ext, ctype = newCSVSheets(c.Writer, true), "zip", "application/zip"
	}
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", attachment(info.FileName+"."+ext))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)
	if _, err := h.exports.Write(ctx, p, q, info, sheets); err != nil {
		// The status line has left: all that can be done is to stop.
		logger(c).WarnContext(ctx, "export stopped", "error", err.Error())
		return
	}
	if err := sheets.Close(c.Writer); err != nil {
		logger(c).WarnContext(ctx, "export not finished", "error", err.Error())
	}
}

// attachment is a Content-Disposition naming a download (RFC 6266), with
// the Chinese name in filename* (RFC 5987) and an ASCII fallback.
func attachment(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return -1
		}
		return r
	}, name)
	if i := strings.LastIndex(name, "."); strings.Trim(ascii, "._") == "" || !strings.Contains(ascii, ".") {
		ascii = "export" + name[max(i, 0):]
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, url.PathEscape(name))
}

// neutral writes a cell a spreadsheet would read as a formula (= + - @,
// tab, CR or NUL first) as text, with a leading apostrophe.
func neutral(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r\x00", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvSheets writes sheets as CSV: UTF-8 with a BOM, one file, or with
// zipped one file per sheet.
type csvSheets struct {
	out   io.Writer
	zip   *zip.Writer
	w     *csv.Writer
	names []string
	cols  []export.Column
	rec   []string // reused row
}

func newCSVSheets(w io.Writer, zipped bool) *csvSheets {
	s := &csvSheets{out: w}
	if zipped {
		s.zip = zip.NewWriter(w)
		// Fast deflate: at the default level compressing took most of a
		// zip's time, for files a sixth smaller.
		s.zip.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, 2)
		})
	}
	return s
}

func (s *csvSheets) Sheet(name string, cols []export.Column) error {
	var dst io.Writer = s.out
	if s.w != nil {
		s.w.Flush()
		if err := s.w.Error(); err != nil {
			return err
		}
		if s.zip == nil {
			return nil // one file: one sheet
		}
	}
	if s.zip != nil {
		n := export.SheetName(name, s.names)
		s.names = append(s.names, n)
		f, err := s.zip.CreateHeader(&zip.FileHeader{Name: n + ".csv", Method: zip.Deflate, Modified: time.Now()})
		if err != nil {
			return err
		}
		dst = f
	}
	if _, err := io.WriteString(dst, "\uFEFF"); err != nil {
		return err
	}
	s.w, s.cols = csv.NewWriter(dst), cols
	s.w.UseCRLF = true
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = neutral(c.Header)
	}
	return s.w.Write(header)
}

func (s *csvSheets) Row(cells []export.SheetCell) error {
	s.rec = s.rec[:0]
	for _, c := range cells {
		if c.IsNumber {
			s.rec = append(s.rec, formatNumber(c.Number))
		} else {
			s.rec = append(s.rec, neutral(c.Text))
		}
	}
	return s.w.Write(s.rec)
}

func (s *csvSheets) Close(io.Writer) error {
	if s.w == nil && s.zip == nil {
		// Nothing matched: an empty file still opens.
		_, err := io.WriteString(s.out, "\uFEFF")
		return err
	}
	if s.w != nil {
		s.w.Flush()
		if err := s.w.Error(); err != nil {
			return err
		}
	}
	if s.zip != nil {
		return s.zip.Close()
	}
	return nil
}

// formatNumber writes a figure with at most the 4 decimals figures are
// kept in, without trailing zeros: 1250.5, 3, 0.3333.
func formatNumber(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return strconv.FormatInt(int64(x), 10)
	}
	return strconv.FormatFloat(math.Round(x*1e4)/1e4, 'f', -1, 64)
}

// streamSheets writes the record sheets straight into the response
// (services/export/xlsx): a row leaves as it is written and nothing of a
// sheet is kept, so memory stays flat at a million rows and the first
// bytes leave at once.
type streamSheets struct {
	w     *xlsx.Writer
	names []string
	cols  []export.Column
	cells []xlsx.Cell
}

func newStreamSheets(w io.Writer) *streamSheets { return &streamSheets{w: xlsx.NewWriter(w)} }

func (s *streamSheets) Sheet(name string, cols []export.Column) error {
	n := export.SheetName(name, s.names)
	s.names, s.cols = append(s.names, n), cols
	xc := make([]xlsx.Column, len(cols))
	for i, c := range cols {
		xc[i] = xlsx.Column{Header: neutral(c.Header), Width: max(c.Width, 6)}
		switch c.Kind {
		case export.ColumnNumber:
			xc[i].Kind = xlsx.Number
		case export.ColumnDate:
			xc[i].Kind = xlsx.Date
		}
	}
	return s.w.Sheet(n, xc)
}

func (s *streamSheets) Row(cells []export.SheetCell) error {
	s.cells = s.cells[:0]
	for i, c := range cells {
		switch {
		case c.IsNumber:
			s.cells = append(s.cells, xlsx.Cell{Number: c.Number, IsNumber: true})
		case i < len(s.cols) && s.cols[i].Kind == export.ColumnDate:
			s.cells = append(s.cells, xlsx.Cell{Text: c.Text})
		default:
			s.cells = append(s.cells, xlsx.Cell{Text: neutral(c.Text)})
		}
	}
	return s.w.Row(s.cells)
}

func (s *streamSheets) Close(io.Writer) error {
	if len(s.names) == 0 {
		// Nothing matched: one sheet saying so.
		if err := s.w.Sheet("无数据", []xlsx.Column{{Header: "没有符合条件的记录", Width: 30}}); err != nil {
			return err
		}
	}
	return s.w.Close()
}

// xlsxSheets writes sheets with excelize's stream writer, for the small
// workbooks that need more than rows (the 统计表 and its chart): the
// workbook is assembled when it is closed.
type xlsxSheets struct {
	f      *excelize.File
	sw     *excelize.StreamWriter
	names  []string
	cols   []export.Column
	row    int
	date   int
	header int
	loc    *time.Location
}

func newXLSXSheets(loc *time.Location) *xlsxSheets {
	f := excelize.NewFile()
	date, _ := f.NewStyle(&excelize.Style{NumFmt: 14, CustomNumFmt: ptrStr("yyyy-mm-dd")})
	header, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}})
	return &xlsxSheets{f: f, date: date, header: header, loc: loc}
}

func ptrStr(s string) *string { return &s }

// finish ends the current sheet: a table over what was written, which
// gives the header row its autofilter.
func (s *xlsxSheets) finish() error {
	if s.sw == nil {
		return nil
	}
	last, _ := excelize.CoordinatesToCellName(len(s.cols), max(s.row, 2))
	noStripes := false
	if err := s.sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: fmt.Sprintf("Records%d", len(s.names)),
		StyleName: "TableStyleLight9", ShowRowStripes: &noStripes}); err != nil {
		return err
	}
	err := s.sw.Flush()
	s.sw = nil
	return err
}

func (s *xlsxSheets) Sheet(name string, cols []export.Column) error {
	if err := s.finish(); err != nil {
		return err
	}
	n := export.SheetName(name, s.names)
	if len(s.names) == 0 {
		if err := s.f.SetSheetName("Sheet1", n); err != nil {
			return err
		}
	} else if _, err := s.f.NewSheet(n); err != nil {
		return err
	}
	s.names = append(s.names, n)
	sw, err := s.f.NewStreamWriter(n)
	if err != nil {
		return err
	}
	s.sw, s.cols, s.row = sw, cols, 1
	for i, c := range cols {
		if err := sw.SetColWidth(i+1, i+1, float64(max(c.Width, 6))); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(cols))
	seen := map[string]bool{}
	for i, c := range cols {
		// A table's headers must differ.
		h := neutral(c.Header)
		for n := 2; seen[h]; n++ {
			h = fmt.Sprintf("%s(%d)", neutral(c.Header), n)
		}
		seen[h] = true
		head[i] = excelize.Cell{StyleID: s.header, Value: h}
	}
	return sw.SetRow("A1", head)
}

func (s *xlsxSheets) Row(cells []export.SheetCell) error {
	s.row++
	vals := make([]any, len(cells))
	for i, c := range cells {
		switch {
		case c.IsNumber:
			vals[i] = c.Number
		case i < len(s.cols) && s.cols[i].Kind == export.ColumnDate && c.Text != "":
			if d, err := time.ParseInLocation(time.DateOnly, c.Text, time.UTC); err == nil {
				vals[i] = excelize.Cell{StyleID: s.date, Value: d}
				continue
			}
			vals[i] = neutral(c.Text)
		case c.Text == "":
			vals[i] = nil
		default:
			vals[i] = neutral(c.Text)
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, s.row)
	return s.sw.SetRow(cell, vals)
}

func (s *xlsxSheets) Close(w io.Writer) error {
	defer s.f.Close()
	if len(s.names) == 0 {
		// Nothing matched: one sheet saying so.
		if err := s.f.SetSheetName("Sheet1", "无数据"); err != nil {
			return err
		}
		if err := s.f.SetCellValue("无数据", "A1", "没有符合条件的记录"); err != nil {
			return err
		}
	} else if err := s.finish(); err != nil {
		return err
	}
	_, err := s.f.WriteTo(w)
	return err
}

// Totals exports the statistics table.
//
//	@Summary		导出统计表 The statistics table (统计表)
//	@Description	上报用的统计表：区县的各学校（按学段分组，含小计）或市的各区县为行，末行合计；列为所选模板的统计量、其主要维度的分项、开展学校数、覆盖教职工数和所选指标。The table a bureau files upward: a row per school of a district (grouped under its stage, with a subtotal per stage) or per district of a city, the bureau's own records on their own row, then 合计; columns are each chosen template's measures, its record count and the schools that filed, its main dimension broken out for its first measure (演练场次 by 消防/地震/防汛), the staff its people field covers, and the chosen indicators (worked out from the summed numerators and denominators of each group). Every number equals what GET /api/v1/totals answers. The XLSX has a chart sheet of the first measure by unit. District and city admins.
//	@ID				exportTotals
//	@Tags			exports
//	@Security		BearerAuth
//	@Produce		application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv,application/problem+json
//	@Param			format					query		string	false	"xlsx (default) or csv"	Enums(xlsx, csv)
//	@Param			org_id					query		string	false	"District or city (default: the caller's)"
//	@Param			period					query		string	false	"Period id (default: the current school year)"
//	@Param			from					query		string	false	"First day (YYYY-MM-DD), with to instead of period"	Format(date)
//	@Param			to						query		string	false	"Last day (YYYY-MM-DD)"								Format(date)
//	@Param			template				query		string	true	"Template key(s), comma-separated (up to 8)"
//	@Param			indicator				query		string	false	"Indicator key(s), comma-separated (up to 8)"
//	@Success		200						{file}		file
//	@Failure		400,401,403,404,422,503	{object}	Problem
//	@Header			503						{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/exports/totals [get]
func (h *Exports) Totals(c *gin.Context) {
	const op = "exports.totals"
	format, ok := sheetFormat(c, op)
	if !ok {
		return
	}
	q := export.StatQuery{OrgID: c.Query("org_id"), Period: c.Query("period"), From: c.Query("from"), To: c.Query("to"),
		Templates: splitList(c, "template"), Indicators: splitList(c, "indicator")}
	if q.OrgID != "" && !filterPattern.MatchString(q.OrgID) {
		respondError(c, badField(op, "org_id", "format", nil))
		return
	}
	table, err := h.exports.StatTable(c.Request.Context(), caller(c), q)
	if err != nil {
		respondError(c, err)
		return
	}
	h.writeTable(c, format, "统计表", table, true)
}

// sheetFormat reads format (xlsx, the default, or csv); anything else is
// answered 422 naming it.
func sheetFormat(c *gin.Context, op string) (string, bool) {
	format := c.DefaultQuery("format", "xlsx")
	if format != "xlsx" && format != "csv" {
		respondError(c, services.Invalid(op, services.Field("format", "enum", "options", "xlsx, csv")))
		return "", false
	}
	return format, true
}

// writeTable sends a one-sheet table as an XLSX (with a chart sheet when
// chart is set) or a CSV download.
func (h *Exports) writeTable(c *gin.Context, format, sheet string, table export.StatTable, chart bool) {
	var (
		sheets interface {
			export.SheetWriter
			Close(w io.Writer) error
		}
		x *xlsxSheets
	)
	ext, ctype := "csv", "text/csv; charset=utf-8"
	if format == "xlsx" {
		x = newXLSXSheets(h.loc)
		sheets, ext, ctype = x, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	} else {
		sheets = newCSVSheets(c.Writer, false)
	}
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", attachment(table.FileName+"."+ext))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)
	err := sheets.Sheet(sheet, table.Columns)
	for _, r := range table.Rows {
		if err == nil {
			err = sheets.Row(r.Cells)
		}
	}
	if err == nil && x != nil && chart {
		err = x.chart(table)
	}
	if err == nil {
		err = sheets.Close(c.Writer)
	}
	if err != nil {
		// The status line has left: all that can be done is to stop.
		logger(c).WarnContext(c.Request.Context(), "table not finished", "sheet", sheet, "error", err.Error())
	}
}

// chart adds a sheet charting the table's first measure by unit (the unit
// rows, not the subtotals).
func (s *xlsxSheets) chart(t export.StatTable) error {
	if len(t.Columns) < 4 {
		return nil
	}
	if err := s.finish(); err != nil {
		return err
	}
	const sheet = "图表"
	if _, err := s.f.NewSheet(sheet); err != nil {
		return err
	}
	if err := s.f.SetSheetRow(sheet, "A1", &[]any{"单位", t.Columns[3].Header}); err != nil {
		return err
	}
	n := 1
	for _, r := range t.Rows {
		if r.Kind != "unit" {
			continue
		}
		n++
		cell, _ := excelize.CoordinatesToCellName(1, n)
		if err := s.f.SetSheetRow(sheet, cell, &[]any{neutral(r.Cells[0].Text), r.Cells[3].Number}); err != nil {
			return err
		}
	}
	if n < 2 {
		return nil
	}
	ref := func(col string) string { return fmt.Sprintf("'%s'!$%s$2:$%s$%d", sheet, col, col, n) }
	return s.f.AddChart(sheet, "D2", &excelize.Chart{Type: excelize.Col,
		Series:    []excelize.ChartSeries{{Name: fmt.Sprintf("'%s'!$B$1", sheet), Categories: ref("A"), Values: ref("B")}},
		Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: t.Columns[3].Header}}},
		Dimension: excelize.ChartDimension{Width: 720, Height: 400}})
}

// Task exports a collection task's progress.
//
//	@Summary		导出填报进度 A collection task's progress sheet
//	@Description	填报任务的进度表：每所目标学校的已提交、已通过、已退回、应报数，按时完成/逾期完成/未完成/逾期未报，以及校长姓名和联系电话，便于逐一电话催报。Each target school: submitted, approved, returned, needed, on time / late / incomplete / missing after the due day, when it completed, and its principal's name and mobile, for the phone calls that follow. Admins whose scope covers the task's bureau.
//	@ID				exportTaskProgress
//	@Tags			exports
//	@Security		BearerAuth
//	@Produce		application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv,application/problem+json
//	@Param			id					path		string	true	"Task id"
//	@Param			format				query		string	false	"xlsx (default) or csv"	Enums(xlsx, csv)
//	@Success		200					{file}		file
//	@Failure		400,401,403,404,503	{object}	Problem
//	@Header			503					{string}	Retry-After	"Seconds to wait before trying again"
//	@Router			/api/v1/exports/tasks/{id} [get]
func (h *Exports) Task(c *gin.Context) {
	format, ok := sheetFormat(c, "exports.task")
	if !ok {
		return
	}
	table, err := h.exports.TaskSheet(c.Request.Context(), caller(c), c.Param("id"))
	if err != nil {
		respondError(c, err)
		return
	}
	h.writeTable(c, format, "填报进度", table, false)
}
