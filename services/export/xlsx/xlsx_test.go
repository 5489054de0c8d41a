package xlsx

import (
	"archive/zip"
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// longText is longer than a cell holds: 40,000 characters.
func longText() string { return strings.Repeat("汇总", 20000) }

// wideColumns are the 30 columns of the second test sheet: A to AD.
func wideColumns() []Column {
	cols := make([]Column, 30)
	for i := range cols {
		cols[i] = Column{Header: "列" + strconv.Itoa(i+1), Kind: ColumnKind(i % 3), Width: 8 + i}
	}
	return cols
}

// wideRow fills all 30 columns: text, number, date, text, ...
func wideRow() []Cell {
	cells := make([]Cell, 30)
	for i := range cells {
		switch i % 3 {
		case 0:
			cells[i] = Cell{Text: "文本" + strconv.Itoa(i+1)}
		case 1:
			cells[i] = Cell{Number: float64(i + 1), IsNumber: true}
		case 2:
			cells[i] = Cell{Text: "2025-09-01"}
		}
	}
	return cells
}

// writeTestWorkbook writes the workbook the format test reads back.
func writeTestWorkbook(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	drill := []Column{
		{Header: "学校", Kind: Text, Width: 24},
		{Header: "参与人数", Kind: Number, Width: 12},
		{Header: "演练日期", Kind: Date, Width: 14},
		{Header: "备注", Kind: Text},
	}
	if err := w.Sheet("应急疏散演练", drill); err != nil {
		t.Fatal(err)
	}
	rows := [][]Cell{
		{{Text: "第一中学"}, {Number: 1200, IsNumber: true}, {Text: "2025-10-09"}, {Text: "=1+1"}},
		{{Text: "<&>\"' \x01x"}, {Number: 123.5, IsNumber: true}, {Text: "2025-02-30"}, {}},
		{{Text: longText()}, {Number: math.NaN(), IsNumber: true}, {Number: 45939, IsNumber: true}, {Text: "_x0041_"}},
		{{Text: "第一行\r\n第二行\t制表"}, {Number: -0.000125, IsNumber: true}, {Text: "1899-12-31"}},
		{{Text: "只有一格"}},
	}
	for _, r := range rows {
		if err := w.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sheet("校舍建设", wideColumns()); err != nil {
		t.Fatal(err)
	}
	if err := w.Row(wideRow()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWorkbook(t *testing.T) {
	data := writeTestWorkbook(t)
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	const s1, s2 = "应急疏散演练", "校舍建设"
	if got := f.GetSheetList(); len(got) != 2 || got[0] != s1 || got[1] != s2 {
		t.Fatalf("sheets %q, want [%s %s]", got, s1, s2)
	}

	const (
		text  = excelize.CellTypeInlineString
		num   = excelize.CellTypeNumber
		unset = excelize.CellTypeUnset
	)
	cells := []struct {
		sheet, cell string
		value       string // formatted, as GetCellValue gives it
		raw         string // raw, when it differs
		typ         excelize.CellType
	}{
		{s1, "A1", "学校", "", text},
		{s1, "B1", "参与人数", "", text},
		{s1, "C1", "演练日期", "", text},
		{s1, "D1", "备注", "", text},
		{s1, "A2", "第一中学", "", text},
		{s1, "B2", "1200", "", num},
		{s1, "C2", "2025-10-09", "45939", num},
		{s1, "D2", "=1+1", "", text},
		{s1, "A3", "<&>\"' x", "", text},
		{s1, "B3", "123.5", "", num},
		{s1, "C3", "2025-02-30", "", text}, // no such day: kept as text
		{s1, "D3", "", "", unset},          // empty cell
		{s1, "B4", "", "", unset},          // NaN
		{s1, "C4", "2025-10-09", "45939", num},
		{s1, "D4", "_x0041_", "", text}, // not decoded as an escape
		{s1, "A5", "第一行\r\n第二行\t制表", "", text},
		{s1, "B5", "-0.000125", "", num},
		{s1, "C5", "1899-12-31", "", text}, // before Excel's dates: text
		{s1, "D5", "", "", unset},          // short row
		{s1, "A6", "只有一格", "", text},
		{s1, "A7", "", "", unset},
		{s2, "A1", "列1", "", text},
		{s2, "Z1", "列26", "", text},
		{s2, "AA1", "列27", "", text},
		{s2, "AD1", "列30", "", text},
		{s2, "AE1", "", "", unset},
		{s2, "Z2", "26", "", num},
		{s2, "Y2", "文本25", "", text},
		{s2, "AA2", "2025-09-01", "45901", num},
		{s2, "AB2", "文本28", "", text},
		{s2, "AC2", "29", "", num},
		{s2, "AD2", "2025-09-01", "45901", num},
	}
	for _, c := range cells {
		got, err := f.GetCellValue(c.sheet, c.cell)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.value {
			t.Errorf("%s!%s = %q, want %q", c.sheet, c.cell, got, c.value)
		}
		raw, err := f.GetCellValue(c.sheet, c.cell, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		if want := cmp.Or(c.raw, c.value); raw != want {
			t.Errorf("%s!%s raw = %q, want %q", c.sheet, c.cell, raw, want)
		}
		typ, err := f.GetCellType(c.sheet, c.cell)
		if err != nil {
			t.Fatal(err)
		}
		if typ != c.typ {
			t.Errorf("%s!%s type %v, want %v", c.sheet, c.cell, typ, c.typ)
		}
		formula, err := f.GetCellFormula(c.sheet, c.cell)
		if err != nil {
			t.Fatal(err)
		}
		if formula != "" {
			t.Errorf("%s!%s has formula %q", c.sheet, c.cell, formula)
		}
	}

	long, err := f.GetCellValue(s1, "A4")
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(long); n != maxCellChars || !strings.HasPrefix(longText(), long) {
		t.Errorf("long text: %d characters, prefix %v; want %d, true", n, strings.HasPrefix(longText(), long), maxCellChars)
	}

	for _, s := range []string{s1, s2} {
		p, err := f.GetPanes(s)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Freeze || p.YSplit != 1 || p.XSplit != 0 || p.TopLeftCell != "A2" {
			t.Errorf("%s panes %+v, want the first row frozen", s, p)
		}
	}

	widths := []struct {
		sheet, col string
		width      float64
	}{
		{s1, "A", 24}, {s1, "B", 12}, {s1, "C", 14}, {s1, "D", 10},
		{s2, "A", 8}, {s2, "Z", 33}, {s2, "AD", 37},
	}
	for _, c := range widths {
		got, err := f.GetColWidth(c.sheet, c.col)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.width {
			t.Errorf("%s column %s width %v, want %v", c.sheet, c.col, got, c.width)
		}
	}

	// The header is bold on a solid fill (light blue, below: excelize
	// reports colours only in workbooks with a theme); dates are yyyy-mm-dd.
	styles := []struct {
		sheet, cell string
		bold        bool
		solid       bool
		numFmt      string
	}{
		{s1, "A1", true, true, ""},
		{s2, "AD1", true, true, ""},
		{s1, "A2", false, false, ""},
		{s1, "C2", false, false, "yyyy-mm-dd"},
	}
	for _, c := range styles {
		id, err := f.GetCellStyle(c.sheet, c.cell)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.GetStyle(id)
		if err != nil {
			t.Fatal(err)
		}
		bold := st.Font != nil && st.Font.Bold
		solid := st.Fill.Type == "pattern" && st.Fill.Pattern == 1
		numFmt := ""
		if st.CustomNumFmt != nil {
			numFmt = *st.CustomNumFmt
		}
		if bold != c.bold || solid != c.solid || numFmt != c.numFmt {
			t.Errorf("%s!%s style bold %v solid %v format %q, want %v %v %q", c.sheet, c.cell, bold, solid, numFmt, c.bold, c.solid, c.numFmt)
		}
	}

	// The autofilter covers the header and the rows, and each sheet has the
	// hidden name Excel keeps the filter's range in.
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"xl/worksheets/sheet1.xml": `<autoFilter ref="A1:D6"/>`,
		"xl/worksheets/sheet2.xml": `<autoFilter ref="A1:AD2"/>`,
		"xl/styles.xml":            `<patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/>`,
		"xl/workbook.xml":          `<definedName name="_xlnm._FilterDatabase" localSheetId="1" hidden="1">'校舍建设'!$A$1:$AD$2</definedName>`,
	} {
		if body := readEntry(t, z, name); !strings.Contains(body, want) {
			t.Errorf("%s lacks %s", name, want)
		}
	}
	filters := map[string]string{}
	for _, d := range f.GetDefinedName() {
		if d.Name == "_xlnm._FilterDatabase" {
			filters[d.Scope] = d.RefersTo
		}
	}
	if filters[s1] != "'应急疏散演练'!$A$1:$D$6" || filters[s2] != "'校舍建设'!$A$1:$AD$2" {
		t.Errorf("filter names %q", filters)
	}

	// Every part is well-formed XML, and the sheets were deflated.
	for _, e := range z.File {
		if e.Method != zip.Deflate {
			t.Errorf("%s stored with method %d", e.Name, e.Method)
		}
		d := xml.NewDecoder(strings.NewReader(readEntry(t, z, e.Name)))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", e.Name, err)
				break
			}
		}
	}
}

// readEntry reads a zip entry whole.
func readEntry(t *testing.T, z *zip.Reader, name string) string {
	t.Helper()
	r, err := z.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEmptyWorkbook(t *testing.T) {
	var buf bytes.Buffer
	if err := NewWriter(&buf).Close(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); len(got) != 1 || got[0] != "Sheet1" {
		t.Fatalf("sheets %q, want [Sheet1]", got)
	}
	rows, err := f.GetRows("Sheet1")
	if err != nil || len(rows) != 0 {
		t.Fatalf("rows %q, %v; want none", rows, err)
	}
	if names := f.GetDefinedName(); len(names) != 0 {
		t.Errorf("an empty sheet has names %+v", names)
	}
}

func TestSheetWithoutRows(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Sheet("空表", []Column{{Header: "甲"}, {Header: "乙"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("空表")
	if err != nil || len(rows) != 1 || strings.Join(rows[0], ",") != "甲,乙" {
		t.Fatalf("rows %q, %v; want the header", rows, err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("xl/worksheets/sheet1.xml")) {
		t.Fatal("no sheet entry")
	}
}

func TestSheetErrors(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.Sheet("校舍建设", []Column{{Header: "学校"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cols []Column
	}{
		{"", nil},
		{strings.Repeat("校", 32), nil},
		{strings.Repeat("😀", 16), nil}, // 32 UTF-16 code units
		{"a[b", nil}, {"a]b", nil}, {"a:b", nil}, {"a*b", nil},
		{"a?b", nil}, {"a/b", nil}, {`a\b`, nil},
		{"'ab", nil}, {"ab'", nil},
		{"a\x01b", nil}, {"a\xffb", nil},
		{"history", nil},
		{"校舍建设", nil}, // taken
		{"SHEET", []Column{{Kind: Date + 1}}},
		{"wide", make([]Column, maxCols+1)},
	}
	for _, tt := range tests {
		if err := w.Sheet(tt.name, tt.cols); err == nil {
			t.Errorf("Sheet(%q) accepted", tt.name)
		}
	}
	// Refused sheets leave the current one open.
	if err := w.Row([]Cell{{Text: "第一中学"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Sheet(strings.Repeat("校", 31), nil); err != nil {
		t.Errorf("a 31-character name: %v", err)
	}
	if err := w.Sheet("it's", nil); err != nil {
		t.Errorf("an inner apostrophe: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRowErrors(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.Row([]Cell{{Text: "x"}}); err == nil {
		t.Error("Row before Sheet accepted")
	}
	if err := w.Sheet("a", []Column{{Header: "x"}, {Header: "y"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Row(make([]Cell, 3)); err == nil {
		t.Error("a row wider than the columns accepted")
	}
	if err := w.Row(nil); err != nil {
		t.Errorf("an empty row: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Row(nil); err == nil {
		t.Error("Row after Close accepted")
	}
	if err := w.Sheet("b", nil); err == nil {
		t.Error("Sheet after Close accepted")
	}
	if err := w.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestTooManyRows(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Sheet("满", []Column{{Header: "序号", Kind: Number}}); err != nil {
		t.Fatal(err)
	}
	w.rows = maxRows - 1 // as if the rows before were written
	if err := w.Row([]Cell{{Number: 1, IsNumber: true}}); err != nil {
		t.Fatalf("row %d: %v", maxRows, err)
	}
	if err := w.Row([]Cell{{Number: 2, IsNumber: true}}); !errors.Is(err, ErrTooManyRows) {
		t.Fatalf("row %d: %v, want ErrTooManyRows", maxRows+1, err)
	}
	// The sheet is still whole, and a new sheet starts from row 1.
	if err := w.Sheet("下一张", []Column{{Header: "序号"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Row([]Cell{{Text: "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct{ sheet, cell, want string }{
		{"满", "A1048576", "1"},
		{"下一张", "A2", "1"},
	} {
		if got, err := f.GetCellValue(c.sheet, c.cell); err != nil || got != c.want {
			t.Errorf("%s!%s = %q, %v; want %q", c.sheet, c.cell, got, err, c.want)
		}
	}
	for _, d := range f.GetDefinedName() {
		if d.Scope == "满" && d.RefersTo != "'满'!$A$1:$A$1048576" {
			t.Errorf("the filter is %s, not down to the last row", d.RefersTo)
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

var errFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteErrorSticks(t *testing.T) {
	w := NewWriter(&failWriter{n: 1000})
	if err := w.Sheet("a", []Column{{Header: "x"}}); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 1_000_000 && err == nil; i++ {
		err = w.Row([]Cell{{Text: strconv.Itoa(i * 7919)}})
	}
	if !errors.Is(err, errFull) {
		t.Fatalf("Row: %v, want %v", err, errFull)
	}
	if err := w.Row(nil); !errors.Is(err, errFull) {
		t.Errorf("Row after the failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errFull) {
		t.Errorf("Close: %v", err)
	}
}

// countWriter counts what goes through it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func TestFirstBytesEarly(t *testing.T) {
	var out countWriter
	w := NewWriter(&out)
	if err := w.Sheet("a", benchColumns()); err != nil {
		t.Fatal(err)
	}
	cells := make([]Cell, 15)
	rows := 0
	for out.n == 0 && rows < 100_000 {
		rows++
		fillRow(cells, rows)
		if err := w.Row(cells); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("first bytes out after %d rows", rows)
	if rows > 5000 {
		t.Errorf("nothing written after %d rows", rows)
	}
}

// benchColumns are 15 columns like a record export's.
func benchColumns() []Column {
	return []Column{
		{Header: "学校", Width: 24}, {Header: "学校标识码", Width: 14}, {Header: "区县"},
		{Header: "填报人"}, {Header: "发生日期", Kind: Date, Width: 12}, {Header: "状态"},
		{Header: "参与人数", Kind: Number}, {Header: "投资(万元)", Kind: Number},
		{Header: "演练类型"}, {Header: "备注", Width: 40}, {Header: "审核人"},
		{Header: "审核通过时间", Width: 18}, {Header: "面积", Kind: Number},
		{Header: "记录编号", Width: 26}, {Header: "附件", Width: 40},
	}
}

// fillRow fills cells with row i of a record export.
func fillRow(cells []Cell, i int) {
	id := strconv.Itoa(i)
	cells[0] = Cell{Text: "第" + id + "中学"}
	cells[1] = Cell{Text: "31" + id}
	cells[2] = Cell{Text: "城区"}
	cells[3] = Cell{Text: "张老师"}
	cells[4] = Cell{Text: "2025-10-09"}
	cells[5] = Cell{Text: "已通过"}
	cells[6] = Cell{Number: float64(i % 1500), IsNumber: true}
	cells[7] = Cell{Number: float64(i) / 8, IsNumber: true}
	cells[8] = Cell{Text: "消防疏散"}
	cells[9] = Cell{Text: "全校师生参与，用时" + id + "秒 & 无人受伤"}
	cells[10] = Cell{Text: "李主任"}
	cells[11] = Cell{Text: "2025-10-10 09:30"}
	cells[12] = Cell{Number: 1234.5, IsNumber: true}
	cells[13] = Cell{Text: "rec_0000" + id}
	cells[14] = Cell{Text: "https://example.org/a/" + id}
}

func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200,000 rows")
	}
	const ceiling = 32 << 20
	rows, every := 200_000, 10_000
	if raceEnabled() {
		// The race detector makes deflate some 15 times slower: a quarter
		// of the rows still shows the heap flat, in a few seconds.
		rows, every = 50_000, 5_000
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	start := time.Now()
	var out countWriter
	w := NewWriter(&out)
	if err := w.Sheet("应急疏散演练", benchColumns()); err != nil {
		t.Fatal(err)
	}
	cells := make([]Cell, 15)
	var peak uint64
	for i := 1; i <= rows; i++ {
		fillRow(cells, i)
		if err := w.Row(cells); err != nil {
			t.Fatal(err)
		}
		if i%every == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			if ms.HeapInuse > ceiling {
				t.Fatalf("after %d rows HeapInuse %.1f MiB, over %d MiB", i, mib(ms.HeapInuse), ceiling>>20)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows × 15 columns in %v, %.1f MiB out; HeapInuse %.1f MiB before, at most %.1f MiB while writing",
		rows, time.Since(start).Round(time.Millisecond), mib(uint64(out.n)), mib(base), mib(peak))
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// raceEnabled tells whether the test runs with the race detector.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func BenchmarkWriter(b *testing.B) {
	// A thousand different rows, made beforehand, so the writer is measured
	// and not the making of its input.
	rowSet := make([][]Cell, 1000)
	for i := range rowSet {
		rowSet[i] = make([]Cell, 15)
		fillRow(rowSet[i], i+1)
	}
	var out countWriter
	w := NewWriter(&out)
	if err := w.Sheet("应急疏散演练", benchColumns()); err != nil {
		b.Fatal(err)
	}
	rows := 0
	b.ReportAllocs()
	for b.Loop() {
		if w.rows == maxRows {
			w.rows = 1 // stay within a sheet
		}
		if err := w.Row(rowSet[rows%len(rowSet)]); err != nil {
			b.Fatal(err)
		}
		rows++
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out.n)/float64(rows), "B/row")
}

func TestColumnName(t *testing.T) {
	for n, want := range map[int]string{
		1: "A", 26: "Z", 27: "AA", 28: "AB", 52: "AZ", 53: "BA", 702: "ZZ", 703: "AAA", 16384: "XFD",
	} {
		if got := columnName(n); got != want {
			t.Errorf("columnName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDateSerial(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: written as text
	}{
		{"2025-10-09", 45939},
		{"1900-03-01", 61},
		{"1970-01-01", 25569},
		{"2024-02-29", 45351},
		{"9999-12-31", 2958465},
		{"1900-02-28", 0}, // Excel's serials are off by one before March 1900
		{"2023-02-29", 0},
		{"2025-04-31", 0},
		{"2025-13-01", 0},
		{"2025-00-10", 0},
		{"2025-1-9", 0},
		{"2025/10/09", 0},
		{"2025-10-09 08:00", 0},
		{"２025-10-09", 0},
		{"", 0},
	}
	for _, tt := range tests {
		got, ok := dateSerial(tt.in)
		if ok != (tt.want != 0) || got != tt.want {
			t.Errorf("dateSerial(%q) = %d, %v; want %d", tt.in, got, ok, tt.want)
		}
	}
}

func TestAppendText(t *testing.T) {
	tests := []struct {
		in, want string
		limit    int
	}{
		{"plain", "plain", 100},
		{`<a href="x">&amp;</a>`, "&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt;", 100},
		{"it's", "it's", 100},
		{"a\tb\nc\rd", "a\tb\nc&#xD;d", 100},
		{"a\x00b\x1fc\x7fd", "abc\x7fd", 100},
		{"a\uFFFEb\uFFFFc\uFFFDd", "abc\uFFFDd", 100},
		{"a\xffb\xc3c", "abc", 100},
		{"_x0041_ _x00zz_ _x12_", "_x005F_x0041_ _x00zz_ _x12_", 100},
		{"校舍建设", "校舍", 2},
		{"a😀b", "a", 2}, // the emoji takes two characters
		{"a😀b", "a😀", 3},
		{"&&&", "&amp;&amp;", 2},
		{"\x01\x01ab", "a", 1}, // dropped characters do not count
	}
	for _, tt := range tests {
		if got := string(appendText(nil, tt.in, tt.limit, true)); got != tt.want {
			t.Errorf("appendText(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestAppendNumber(t *testing.T) {
	tenth, fifth := 0.1, 0.2
	for x, want := range map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 123.5: "123.5", -0.000125: "-0.000125",
		1e20: "100000000000000000000", 1e21: "1E+21", 1.5e-10: "1.5E-10", tenth + fifth: "0.30000000000000004",
	} {
		if got := string(appendNumber(nil, x)); got != want {
			t.Errorf("appendNumber(%v) = %q, want %q", x, got, want)
		}
	}
	if !regexp.MustCompile(`^[0-9.E+-]+$`).MatchString(string(appendNumber(nil, math.MaxFloat64))) {
		t.Error("MaxFloat64")
	}
}
