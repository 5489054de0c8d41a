package services

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// importOutcome is what a test compares: the rows, or the error's kind,
// code and fields.
type importOutcome struct {
	Rows   []ImportRow
	Kind   Kind
	Code   string
	Fields []FieldError
}

func outcome(t *testing.T, rows []ImportRow, err error) importOutcome {
	t.Helper()
	if err == nil {
		return importOutcome{Rows: rows}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *services.Error", err, err)
	}
	if rows != nil {
		t.Errorf("rows %v returned with error %v", rows, err)
	}
	return importOutcome{Kind: e.Kind, Code: e.Code, Fields: e.Fields}
}

// invalidFile is the outcome of a KindInvalid error on the file.
func invalidFile(fields ...FieldError) importOutcome {
	return importOutcome{Kind: KindInvalid, Code: "validation_failed", Fields: fields}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gbkFile is what Excel on Chinese Windows writes for "CSV (逗号分隔)".
func gbkFile(t *testing.T) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("姓名,手机号,角色,学校\r\n张三,13800138000,教师,第一中学\r\n欧阳娜娜,13900139000,校长,实验小学\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b, []byte("x")) || !bytes.Contains(b, []byte{0xD5, 0xC5}) { // 张 in GBK
		t.Fatalf("encoder did not produce GBK: % x", b)
	}
	return b
}

// utf16File is Excel's "Unicode 文本": UTF-16LE with a BOM, tab separated.
func utf16File(t *testing.T) []byte {
	t.Helper()
	enc := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder()
	b, err := enc.Bytes([]byte("姓名\t手机号\t角色\t学校\r\n张三\t13800138000\t教师\t第一中学\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xlsxFile builds a workbook whose first sheet is an instructions sheet and
// whose 用户 sheet holds the data, with mobiles and a school code typed as
// numbers (one with a scientific number format, as Excel shows long numbers),
// and a gap at row 4.
func xlsxFile(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "说明"))
	must(f.SetCellValue("说明", "A1", "请在“用户”表中填写"))
	if _, err := f.NewSheet("用户"); err != nil {
		t.Fatal(err)
	}
	must(f.SetSheetRow("用户", "A1", &[]any{"姓名", "手机号", "角色", "学校", "初始密码"}))
	must(f.SetSheetRow("用户", "A2", &[]any{" 张三 ", int64(13800138000), "教师", "第一中学", "Pa55-word"}))
	must(f.SetSheetRow("用户", "A3", &[]any{"李四", 13900139000.0, "principal", 3101010001}))
	must(f.SetSheetRow("用户", "A5", &[]any{"王五", int64(13700137000), "Teacher", "实验小学"}))
	sci, err := f.NewStyle(&excelize.Style{NumFmt: 11}) // 0.00E+00
	must(err)
	must(f.SetCellStyle("用户", "B5", "B5", sci))
	buf, err := f.WriteToBuffer()
	must(err)
	return buf.Bytes()
}

// xlsxSheets builds a workbook from rows for each sheet in order.
func xlsxSheets(t *testing.T, sheets map[string][][]any, order []string, hidden ...string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range order {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range sheets[name] {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(name, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range hidden {
		idx, _ := f.GetSheetIndex(order[len(order)-1])
		f.SetActiveSheet(idx)
		if err := f.SetSheetVisible(name, false); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wideXLSX has n data rows that each also name the last column, which the
// row iterator expands to 16384 cells.
func wideXLSX(t *testing.T, n int) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	w, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetRow("A1", []any{"姓名", "手机号", "角色", "学校"}); err != nil {
		t.Fatal(err)
	}
	for r := 2; r < n+2; r++ {
		cells := make([]any, 16384)
		copy(cells, []any{"张三", 13800138000, "教师", "一中"})
		cells[16383] = "x"
		cell, _ := excelize.CoordinatesToCellName(1, r)
		if err := w.SetRow(cell, cells); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipBomb declares an entry far larger than any import sheet; its content is
// never inflated.
func zipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
		CompressedSize64: 2, UncompressedSize64: 1 << 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{0x03, 0x00})
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func manyRows(n int) []byte {
	var b strings.Builder
	b.WriteString("姓名,手机号,角色,学校\n")
	for range n {
		b.WriteString("张三,13800138000,教师,一中\n\n")
	}
	return []byte(b.String())
}

func TestReadImportFile(t *testing.T) {
	zhang := ImportRow{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "第一中学"}
	tests := []struct {
		name     string
		filename string
		data     []byte
		maxRows  int
		want     importOutcome
	}{
		{
			name: "utf8", filename: "users.csv", data: readTestdata(t, "utf8.csv"),
			want: importOutcome{Rows: []ImportRow{
				{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "第一中学", Username: "zhangsan", Password: "Abc12345!"},
				{Line: 3, Name: "李四", Mobile: "+86 139-0013-9000", Role: "校长", School: "3101010001"},
			}},
		},
		{
			name: "utf8 BOM, CRLF, English headers, quoted comma", filename: "USERS.CSV", data: readTestdata(t, "utf8_bom.csv"),
			want: importOutcome{Rows: []ImportRow{
				{Line: 2, Name: "Wang Wu", Mobile: "13700137000", Role: "teacher", School: "Experimental School, East"},
			}},
		},
		{
			name: "GBK from Excel", filename: "用户.csv", data: gbkFile(t),
			want: importOutcome{Rows: []ImportRow{
				zhang,
				{Line: 3, Name: "欧阳娜娜", Mobile: "13900139000", Role: "校长", School: "实验小学"},
			}},
		},
		{
			name: "UTF-16 tab separated", filename: "u.csv", data: utf16File(t),
			want: importOutcome{Rows: []ImportRow{zhang}},
		},
		{
			name: "ragged rows, blank lines, header variants, NFC", filename: `C:\Users\admin\Desktop\名单.csv`, data: readTestdata(t, "ragged_blank.csv"),
			want: importOutcome{Rows: []ImportRow{
				{Line: 3, Name: "张三", Mobile: "13800138000", Role: "老师", School: "第一中学"},
				{Line: 6, Name: "李四", Mobile: "13900139000"},
				{Line: 7, Name: `王"五`, Mobile: "13700137000", Role: "园长", School: "3101010002"},
				{Line: 8, Name: "赵\n六", Mobile: "13600136000", Role: "teacher", School: "二中"},
				{Line: 10, Name: "Zo\u00eb", Mobile: "13500135000", Role: "principal", School: "三中"},
			}},
		},
		{
			name: "semicolon", filename: "s.csv", data: readTestdata(t, "semicolon.csv"),
			want: importOutcome{Rows: []ImportRow{zhang}},
		},
		{
			name: "tab, comma inside a cell", filename: "t.csv", data: readTestdata(t, "tab.csv"),
			want: importOutcome{Rows: []ImportRow{{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "第一中学, 分校"}}},
		},
		{
			name: "missing columns", filename: "m.csv", data: readTestdata(t, "missing_column.csv"),
			want: invalidFile(
				FieldError{Field: "file", Code: "missing_column", Args: map[string]any{"column": "手机号"}},
				FieldError{Field: "file", Code: "missing_column", Args: map[string]any{"column": "学校"}},
			),
		},
		{
			name: "header only", filename: "h.csv", data: readTestdata(t, "header_only.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "empty"}),
		},
		{
			name: "blank lines only", filename: "b.csv", data: readTestdata(t, "blank.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "empty"}),
		},
		{
			name: "zero bytes", filename: "e.csv", data: readTestdata(t, "empty.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "empty"}),
		},
		{
			name: "unterminated quote", filename: "q.csv", data: readTestdata(t, "bad_quote.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "format", Args: map[string]any{"line": 2}}),
		},
		{
			name: "at the row cap", filename: "c.csv", data: manyRows(3), maxRows: 3,
			want: importOutcome{Rows: []ImportRow{
				{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "一中"},
				{Line: 4, Name: "张三", Mobile: "13800138000", Role: "教师", School: "一中"},
				{Line: 6, Name: "张三", Mobile: "13800138000", Role: "教师", School: "一中"},
			}},
		},
		{
			name: "too many rows", filename: "c.csv", data: manyRows(4), maxRows: 3,
			want: invalidFile(FieldError{Field: "file", Code: "too_many_rows", Args: map[string]any{"max": 3}}),
		},
		{
			name: "image named .csv", filename: "photo.csv", data: readTestdata(t, "not_a_file.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "xlsx named .csv", filename: "users.csv", data: xlsxFile(t),
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "csv named .xlsx", filename: "users.xlsx", data: readTestdata(t, "utf8.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "unknown extension", filename: "users.xls", data: readTestdata(t, "utf8.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "no extension", filename: "users", data: readTestdata(t, "utf8.csv"),
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "xlsx: 用户 sheet, numeric mobiles, gap row", filename: "users.xlsx", data: xlsxFile(t),
			want: importOutcome{Rows: []ImportRow{
				{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "第一中学", Password: "Pa55-word"},
				{Line: 3, Name: "李四", Mobile: "13900139000", Role: "principal", School: "3101010001"},
				{Line: 5, Name: "王五", Mobile: "13700137000", Role: "Teacher", School: "实验小学"},
			}},
		},
		{
			name: "xlsx: first visible sheet", filename: "u.XLSX",
			data: xlsxSheets(t, map[string][][]any{
				"hidden": {{"nothing"}},
				"名单":     {{"name", "mobile", "role", "school"}, {"张三", 13800138000, "教师", "第一中学"}},
				"其他":     {{"姓名"}},
			}, []string{"hidden", "名单", "其他"}, "hidden"),
			want: importOutcome{Rows: []ImportRow{zhang}},
		},
		{
			name: "xlsx: missing column", filename: "u.xlsx",
			data: xlsxSheets(t, map[string][][]any{"Users": {{"姓名", "手机号", "学校"}, {"张三", 13800138000, "一中"}}}, []string{"Users"}),
			want: invalidFile(FieldError{Field: "file", Code: "missing_column", Args: map[string]any{"column": "角色"}}),
		},
		{
			name: "xlsx: empty workbook", filename: "u.xlsx",
			data: xlsxSheets(t, nil, []string{"Sheet1"}),
			want: invalidFile(FieldError{Field: "file", Code: "empty"}),
		},
		{
			name: "xlsx: too many rows", filename: "u.xlsx", maxRows: 1,
			data: xlsxSheets(t, map[string][][]any{"S": {{"姓名", "手机号", "角色", "学校"}, {"a", 1, "b", "c"}, {"d", 2, "e", "f"}}}, []string{"S"}),
			want: invalidFile(FieldError{Field: "file", Code: "too_many_rows", Args: map[string]any{"max": 1}}),
		},
		{
			name: "zip that is not a workbook", filename: "u.xlsx", data: func() []byte {
				var buf bytes.Buffer
				zw := zip.NewWriter(&buf)
				w, _ := zw.Create("hello.txt")
				w.Write([]byte("hi"))
				zw.Close()
				return buf.Bytes()
			}(),
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "truncated xlsx", filename: "u.xlsx", data: xlsxFile(t)[:200],
			want: invalidFile(FieldError{Field: "file", Code: "unsupported_format"}),
		},
		{
			name: "xlsx: rows that reach column XFD", filename: "u.xlsx", data: wideXLSX(t, 70),
			want: importOutcome{Kind: KindBadRequest, Code: "payload_too_large"},
		},
		{
			name: "xlsx: a few wide rows are fine", filename: "u.xlsx", data: wideXLSX(t, 3),
			want: importOutcome{Rows: []ImportRow{
				{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "一中"},
				{Line: 3, Name: "张三", Mobile: "13800138000", Role: "教师", School: "一中"},
				{Line: 4, Name: "张三", Mobile: "13800138000", Role: "教师", School: "一中"},
			}},
		},
		{
			name: "xlsx: huge shared string", filename: "u.xlsx",
			data: xlsxSheets(t, map[string][][]any{"S": {{"姓名", "手机号", "角色", "学校"}, {"a", 1, "b", strings.Repeat("长", 3000)}}}, []string{"S"}),
			want: importOutcome{Kind: KindBadRequest, Code: "payload_too_large"},
		},
		{
			name: "zip bomb", filename: "u.xlsx", data: zipBomb(t),
			want: importOutcome{Kind: KindBadRequest, Code: "payload_too_large"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ReadImportFile(bytes.NewReader(tt.data), tt.filename, tt.maxRows)
			got := outcome(t, rows, err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadImportFile(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

// endless is a reader that never ends.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestReadImportFileTooLarge(t *testing.T) {
	// An endless upload: the reader must stop at its own bound.
	r := io.MultiReader(strings.NewReader("姓名,手机号,角色,学校\n"), endless('a'))
	rows, err := ReadImportFile(r, "big.csv", 0)
	got := outcome(t, rows, err)
	want := importOutcome{Kind: KindBadRequest, Code: "payload_too_large"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in     string
		want   Role
		wantOK bool
	}{
		{"教师", RoleTeacher, true},
		{" 老师 ", RoleTeacher, true},
		{"Teacher", RoleTeacher, true},
		{"ＴＥＡＣＨＥＲ", RoleTeacher, true},
		{"校长", RolePrincipal, true},
		{"园长", RolePrincipal, true},
		{"学校管理员", RolePrincipal, true},
		{"PRINCIPAL", RolePrincipal, true},
		{"区县管理员", RoleDistrictAdmin, true},
		{"教育局管理员", RoleDistrictAdmin, true},
		{"District_Admin", RoleDistrictAdmin, true},
		{"市管理员", RoleCityAdmin, true},
		{"city_admin", RoleCityAdmin, true},
		{"sysadmin", "", false},
		{"系统管理员", "", false},
		{"", "", false},
		{"教 师", "", false},
		{"teachers", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseRole(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestNormalizeMobile(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"13800138000", "13800138000", true},
		{" 138 0013 8000 ", "13800138000", true},
		{"138-0013-8000", "13800138000", true},
		{"+86 138 0013 8000", "13800138000", true},
		{"+8613800138000", "13800138000", true},
		{"8613800138000", "13800138000", true},
		{"86-138-0013-8000", "13800138000", true},
		{"１３８００１３８０００", "13800138000", true},
		{"\u300013800138000\u00a0", "13800138000", true},
		{"19912345678", "19912345678", true},
		{"12800138000", "", false},
		{"1380013800", "", false},
		{"138001380001", "", false},
		{"23800138000", "", false},
		{"+8513800138000", "", false},
		{"+86+8613800138000", "", false},
		{"1.3800138E10", "", false},
		{"1380013800a", "", false},
		{"١٣٨٠٠١٣٨٠٠٠", "", false},
		{"", "", false},
		{"86", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeMobile(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NormalizeMobile(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestIntegralNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13800138000", "13800138000"},
		{"13800138000.0", "13800138000"},
		{"1.3800138E10", "13800138000"},
		{"1.3800138e+10", "13800138000"},
		{"3.101010001E9", "3101010001"},
		{"1.5", "1.5"},
		{"1e20", "1e20"},
		{"-1.0", "-1.0"},
		{"NaN", "NaN"},
		{"第1.中学", "第1.中学"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := integralNumber(tt.in); got != tt.want {
			t.Errorf("integralNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzReadImportFile feeds arbitrary bytes as a CSV upload: the reader must
// never panic, must answer only with service errors, and must keep its
// promises about the rows it returns.
func FuzzReadImportFile(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "import"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "import", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	gbk, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("姓名,手机号,角色,学校\n张三,13800138000,教师,一中\n"))
	f.Add(gbk)
	f.Add(manyRows(60))
	f.Add([]byte("\xff\xfe\x00"))
	f.Add([]byte("name;phone;role;school\n\"a;b\";1;2;3\n"))
	const maxRows = 50
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadImportFile(bytes.NewReader(data), "fuzz.csv", maxRows)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind == KindInternal {
				t.Fatalf("error %v is not a client error", err)
			}
			if rows != nil {
				t.Fatalf("rows %v with error %v", rows, err)
			}
			return
		}
		if len(rows) == 0 || len(rows) > maxRows {
			t.Fatalf("%d rows, want 1..%d", len(rows), maxRows)
		}
		prev := 1
		for _, r := range rows {
			if r.Line <= prev {
				t.Fatalf("line %d after %d", r.Line, prev)
			}
			prev = r.Line
			for _, c := range []string{r.Name, r.Mobile, r.Role, r.School, r.Username, r.Password} {
				if c != CleanText(c) {
					t.Fatalf("cell %q is not trimmed NFC", c)
				}
			}
		}
	})
}

// TestImportTemplateReadsBack: both template formats read back as one
// valid-looking example row under the canonical headers.
func TestImportTemplateReadsBack(t *testing.T) {
	for _, format := range []string{ImportTemplateXLSX, ImportTemplateCSV} {
		t.Run(format, func(t *testing.T) {
			b, err := ImportTemplate(format)
			if err != nil {
				t.Fatal(err)
			}
			if format == ImportTemplateCSV && !bytes.HasPrefix(b, []byte("\uFEFF姓名,手机号,角色,学校,用户名,初始密码\r\n")) {
				t.Errorf("csv starts %q", b[:min(len(b), 60)])
			}
			rows, err := ReadImportFile(bytes.NewReader(b), "t."+format, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []ImportRow{{Line: 2, Name: "张三", Mobile: "13800138000", Role: "教师", School: "实验小学"}}
			if diff := cmp.Diff(want, rows); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ImportTemplate("xls"); KindOf(err) != KindInvalid {
		t.Errorf("format xls: %v, want invalid", err)
	}
}

// TestImportRoleWords: the words an import names all parse to a school
// role, and an unknown role is answered with them, never with sysadmin.
func TestImportRoleWords(t *testing.T) {
	for _, w := range ImportRoleWords() {
		if r, ok := ParseRole(w); !ok || r.OrgKind() != OrgSchool {
			t.Errorf("role word %q parses to %q, %v", w, r, ok)
		}
	}
	fields := []FieldError{Field("role", "enum", "options", "teacher, principal, district_admin, city_admin, sysadmin"), Field("mobile", "mobile")}
	nameImportRoles(fields)
	opts, _ := fields[0].Args["options"].(string)
	if strings.Contains(opts, "sysadmin") || !strings.Contains(opts, "教师") || !strings.Contains(opts, "校长") {
		t.Errorf("role options %q", opts)
	}
	if fields[1].Args != nil {
		t.Errorf("mobile error changed: %+v", fields[1])
	}
}
