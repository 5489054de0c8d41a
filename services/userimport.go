package services

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/unicode/norm"
)

// ImportRow is one data row of a user import file, cells trimmed and
// NFC-normalised but otherwise as written: the Users service validates them.
type ImportRow struct {
	// Line is the 1-based line (CSV) or row (XLSX) number as the admin sees
	// it in an editor or in Excel; the header is usually line 1.
	Line   int
	Name   string
	Mobile string
	// Role is the raw role cell; see ParseRole.
	Role string
	// School is the raw school cell: a school name or its 10-digit code.
	School string
	// Username and Password come from the optional columns 用户名 and 初始密码.
	Username, Password string
}

const (
	// maxImportFileBytes bounds what ReadImportFile reads even when its
	// caller forgot to bound the upload.
	maxImportFileBytes = 32 << 20
	// maxXLSXUnzipBytes bounds the total uncompressed size of an XLSX: a
	// 5000-row sheet is about 2 MB of XML, so anything far larger is a zip
	// bomb. The same value is excelize's in-memory limit, so that it never
	// spills worksheets to temporary files (which it leaks on some errors).
	maxXLSXUnzipBytes = 16 << 20
	// maxSharedStringBytes bounds one shared string. excelize copies a
	// shared string each time a cell refers to it, so a tiny sheet of cells
	// all pointing at one huge string is a bomb of its own; cells of an
	// account list are short (Excel itself stops at 32767 characters).
	maxSharedStringBytes = 8 << 10
	// maxXLSXCells and maxXLSXCellBytes bound what the row iterator may
	// materialise: a row that names only cell XFD1 comes back as 16384
	// cells, and blank rows are not counted against maxRows.
	maxXLSXCells     = 1 << 20
	maxXLSXCellBytes = 64 << 20
)

// importColumn is a field of ImportRow that a header can name.
type importColumn int

const (
	colName importColumn = iota
	colMobile
	colRole
	colSchool
	colUsername
	colPassword
	numImportColumns
)

// requiredColumns are the columns every import file needs.
func requiredColumns() [4]importColumn {
	return [4]importColumn{colName, colMobile, colRole, colSchool}
}

// columnName is a column's canonical header, the one in the template admins
// download, used to name a missing column.
func columnName(c importColumn) string {
	switch c {
	case colName:
		return "姓名"
	case colMobile:
		return "手机号"
	case colRole:
		return "角色"
	case colSchool:
		return "学校"
	case colUsername:
		return "用户名"
	case colPassword:
		return "初始密码"
	}
	return ""
}

// headerColumn maps a normalised header (see headerKey) to its column.
func headerColumn(key string) (importColumn, bool) {
	switch key {
	case "姓名", "name":
		return colName, true
	case "手机号", "手机", "手机号码", "mobile", "phone":
		return colMobile, true
	case "角色", "role":
		return colRole, true
	case "学校", "学校名称", "学校标识码", "school":
		return colSchool, true
	case "用户名", "username":
		return colUsername, true
	case "初始密码", "密码", "password":
		return colPassword, true
	}
	return 0, false
}

// ReadImportFile reads the rows of a user import file. The format is chosen
// by the extension of filename (.csv or .xlsx) and checked against the
// content, since browsers and admins rename files freely. maxRows caps the
// number of non-blank data rows; 0 or less means no cap.
//
// Failures about the file itself are KindInvalid errors on the field "file"
// with the codes unsupported_format, empty (no bytes, no header, or a header
// and no data rows), missing_column (Args column), too_many_rows (Args max)
// and format (Args line, where a broken CSV quote starts). A file larger than
// the reader accepts, or an XLSX that unpacks far beyond what an account list
// needs (see maxXLSXUnzipBytes and below), is KindBadRequest payload_too_large.
func ReadImportFile(r io.Reader, filename string, maxRows int) ([]ImportRow, error) {
	const op = "users.import"
	data, err := io.ReadAll(io.LimitReader(r, maxImportFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read file: %w", op, err)
	}
	if len(data) > maxImportFileBytes {
		return nil, &Error{Op: op, Kind: KindBadRequest, Code: "payload_too_large"}
	}
	isZip := bytes.HasPrefix(data, []byte("PK\x03\x04"))
	switch fileExt(filename) {
	case ".csv":
		if len(data) == 0 {
			return nil, fileError(op, "empty")
		}
		if isZip {
			return nil, fileError(op, "unsupported_format")
		}
		src, err := newCSVSource(op, data)
		if err != nil {
			return nil, err
		}
		return collectRows(op, src, maxRows, false)
	case ".xlsx":
		if !isZip {
			return nil, fileError(op, "unsupported_format")
		}
		return readXLSX(op, data, maxRows)
	}
	return nil, fileError(op, "unsupported_format")
}

// fileError is a KindInvalid error about the import file as a whole.
func fileError(op, code string, kv ...any) *Error {
	return Invalid(op, Field("file", code, kv...))
}

// fileExt returns the lower-case extension of the last element of name,
// which may be a Windows path as old browsers sent them.
func fileExt(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(name[i:]))
}

// rowSource yields the raw rows of a sheet with their line numbers; it
// returns io.EOF after the last row.
type rowSource interface {
	next() (line int, cells []string, err error)
}

// collectRows finds the header (the first non-blank row), maps its columns
// and turns each further non-blank row into an ImportRow. numeric says the
// cells are XLSX raw values, whose numbers may be written as floats.
func collectRows(op string, src rowSource, maxRows int, numeric bool) ([]ImportRow, error) {
	var cols [numImportColumns][]int
	for {
		_, cells, err := src.next()
		if errors.Is(err, io.EOF) {
			return nil, fileError(op, "empty")
		}
		if err != nil {
			return nil, err
		}
		if isBlankRow(cells) {
			continue
		}
		for i, c := range cells {
			if col, ok := headerColumn(headerKey(c)); ok {
				cols[col] = append(cols[col], i)
			}
		}
		break
	}
	var missing []FieldError
	for _, col := range requiredColumns() {
		if len(cols[col]) == 0 {
			missing = append(missing, Field("file", "missing_column", "column", columnName(col)))
		}
	}
	if len(missing) > 0 {
		return nil, Invalid(op, missing...)
	}

	var rows []ImportRow
	for {
		line, cells, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if isBlankRow(cells) {
			continue
		}
		if maxRows > 0 && len(rows) >= maxRows {
			return nil, fileError(op, "too_many_rows", "max", maxRows)
		}
		// When two columns name the same field (学校名称 and 学校标识码),
		// the first one filled in on this row wins.
		cell := func(col importColumn) string {
			// cols are ascending; stopping at the row's end keeps a header
			// repeating 姓名 a million times linear, not quadratic.
			for _, i := range cols[col] {
				if i >= len(cells) {
					break
				}
				if v := CleanText(cells[i]); v != "" {
					return v
				}
			}
			return ""
		}
		row := ImportRow{
			Line:     line,
			Name:     cell(colName),
			Mobile:   cell(colMobile),
			Role:     cell(colRole),
			School:   cell(colSchool),
			Username: cell(colUsername),
			Password: cell(colPassword),
		}
		if numeric {
			row.Mobile = integralNumber(row.Mobile)
			row.School = integralNumber(row.School)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fileError(op, "empty")
	}
	return rows, nil
}

// isBlankRow reports whether every cell is empty after trimming, which is
// how spreadsheets export empty lines (",,,").
func isBlankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// headerKey normalises a header cell so the usual variations match an alias:
// full-width letters and brackets (NFKC), case, a required-marker asterisk
// and a trailing note such as "（必填）" or "(选填)".
func headerKey(s string) string {
	s = strings.ToLower(norm.NFKC.String(strings.TrimSpace(s)))
	s = strings.TrimSpace(strings.Trim(s, "*"))
	if i := strings.IndexByte(s, '('); i > 0 && strings.HasSuffix(s, ")") {
		s = s[:i]
	}
	return strings.TrimSpace(strings.Trim(s, "*"))
}

// integralNumber rewrites a number that a spreadsheet stored as a float
// ("1.3800138E10", "13800138000.0") as its digits, so a mobile or school code
// typed into a numeric cell reads as the admin typed it. Anything else is
// returned unchanged for the validator to judge.
func integralNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	// 1e15 keeps us inside the integers a float64 holds exactly.
	if err != nil || f < 0 || f >= 1e15 || f != math.Trunc(f) {
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// csvSource reads CSV records with the physical line each starts on.
type csvSource struct {
	op string
	r  *csv.Reader
}

// newCSVSource decodes data to UTF-8 and picks the delimiter from the header
// line. Excel on Chinese Windows writes GB18030/GBK ("CSV (逗号分隔)") or
// UTF-16 with a BOM ("Unicode 文本", tab separated); others write UTF-8,
// with or without a BOM.
func newCSVSource(op string, data []byte) (*csvSource, error) {
	var err error
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		if data, err = dec.Bytes(data); err != nil {
			return nil, fileError(op, "unsupported_format")
		}
	case looksBinary(data):
		// Zip, PDF, images, old .xls and the like renamed to .csv.
		return nil, fileError(op, "unsupported_format")
	case !utf8.Valid(data):
		if data, err = simplifiedchinese.GB18030.NewDecoder().Bytes(data); err != nil {
			return nil, fileError(op, "unsupported_format")
		}
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = sniffDelimiter(data)
	r.FieldsPerRecord = -1
	return &csvSource{op: op, r: r}, nil
}

func (s *csvSource) next() (int, []string, error) {
	rec, err := s.r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return 0, nil, fileError(s.op, "format", "line", pe.StartLine)
		}
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("%s: read csv: %w", s.op, err)
	}
	line, _ := s.r.FieldPos(0)
	return line, rec, nil
}

// looksBinary reports whether data holds control bytes no text file has (the
// set net/http's content sniffing uses).
func looksBinary(data []byte) bool {
	for _, b := range data {
		if b <= 0x08 || b == 0x0B || (b >= 0x0E && b <= 0x1A) || (b >= 0x1C && b <= 0x1F) {
			return true
		}
	}
	return false
}

// sniffDelimiter picks comma, tab or semicolon, whichever the first
// non-blank line uses most; ties go to the comma.
func sniffDelimiter(data []byte) rune {
	var line []byte
	for len(data) > 0 {
		line, data, _ = bytes.Cut(data, []byte("\n"))
		if len(bytes.TrimSpace(line)) > 0 {
			break
		}
	}
	best, n := ',', bytes.Count(line, []byte(","))
	for _, d := range []rune{'\t', ';'} {
		if c := bytes.Count(line, []byte(string(d))); c > n {
			best, n = d, c
		}
	}
	return best
}

// xlsxSource streams the rows of one worksheet; the row number counts the
// empty rows excelize fills in for gaps, so it matches Excel's.
type xlsxSource struct {
	op           string
	rows         *excelize.Rows
	line         int
	cells, bytes int
}

func (s *xlsxSource) next() (int, []string, error) {
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return 0, nil, fileError(s.op, "unsupported_format")
		}
		return 0, nil, io.EOF
	}
	s.line++
	cells, err := s.rows.Columns()
	if err != nil {
		return 0, nil, fileError(s.op, "unsupported_format")
	}
	s.cells += len(cells)
	for _, c := range cells {
		s.bytes += len(c)
	}
	if s.cells > maxXLSXCells || s.bytes > maxXLSXCellBytes {
		return 0, nil, &Error{Op: s.op, Kind: KindBadRequest, Code: "payload_too_large"}
	}
	return s.line, cells, nil
}

// readXLSX reads the import sheet of an XLSX file. A workbook excelize cannot
// read is reported as unsupported_format; since the parser is a large third
// party library facing hostile uploads, a panic inside it is turned into the
// same error rather than taking the request down.
func readXLSX(op string, data []byte, maxRows int) (rows []ImportRow, err error) {
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fileError(op, "unsupported_format")
		}
	}()
	// Check the declared sizes first so a bomb is named as too large; Go's zip
	// reader refuses entries that inflate beyond their declared size.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fileError(op, "unsupported_format")
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > maxXLSXUnzipBytes || f.UncompressedSize64 > maxXLSXUnzipBytes {
			return nil, &Error{Op: op, Kind: KindBadRequest, Code: "payload_too_large"}
		}
	}
	for _, f := range zr.File {
		// excelize finds the table under this name, in any case.
		if strings.EqualFold(strings.ReplaceAll(f.Name, `\`, "/"), "xl/sharedStrings.xml") {
			if err := checkSharedStrings(op, f); err != nil {
				return nil, err
			}
		}
	}
	// Raw values: a number format (date, "#,##0", "0.00E+00") would change or
	// round what was typed; mobiles come out as the stored number.
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		RawCellValue:      true,
		UnzipSizeLimit:    maxXLSXUnzipBytes,
		UnzipXMLSizeLimit: maxXLSXUnzipBytes,
	})
	if err != nil {
		return nil, fileError(op, "unsupported_format")
	}
	defer f.Close()
	sheet, ok := importSheet(f)
	if !ok {
		return nil, fileError(op, "empty")
	}
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, fileError(op, "unsupported_format")
	}
	defer it.Close()
	return collectRows(op, &xlsxSource{op: op, rows: it}, maxRows, true)
}

// checkSharedStrings streams the shared string table and refuses it when one
// string is longer than maxSharedStringBytes (see there). It counts all the
// text of an item, phonetic runs included, which only errs on the safe side.
func checkSharedStrings(op string, f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		return fileError(op, "unsupported_format")
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	n := 0
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fileError(op, "unsupported_format")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "si" {
				n = 0
			}
		case xml.CharData:
			if n += len(t); n > maxSharedStringBytes {
				return &Error{Op: op, Kind: KindBadRequest, Code: "payload_too_large"}
			}
		}
	}
}

// importSheet picks the sheet named 用户 or users if there is one, else the
// first visible sheet (templates often lead with a hidden or instructions
// sheet only by accident, so visibility is the tie-breaker, not the name).
func importSheet(f *excelize.File) (string, bool) {
	list := f.GetSheetList()
	for _, name := range list {
		if k := strings.ToLower(strings.TrimSpace(name)); k == "用户" || k == "users" {
			return name, true
		}
	}
	for _, name := range list {
		if visible, err := f.GetSheetVisible(name); err == nil && visible {
			return name, true
		}
	}
	if len(list) > 0 {
		return list[0], true
	}
	return "", false
}

// ParseRole maps a role cell of an import file to a Role, trimmed and
// case-insensitive: 教师/老师/teacher, 校长/园长/学校管理员/principal,
// 区县管理员/教育局管理员/district_admin, 市管理员/city_admin. The sysadmin
// role is never granted by import.
func ParseRole(s string) (Role, bool) {
	switch strings.ToLower(norm.NFKC.String(strings.TrimSpace(s))) {
	case "教师", "老师", "teacher":
		return RoleTeacher, true
	case "校长", "园长", "学校管理员", "principal":
		return RolePrincipal, true
	case "区县管理员", "教育局管理员", "district_admin":
		return RoleDistrictAdmin, true
	case "市管理员", "city_admin":
		return RoleCityAdmin, true
	}
	return "", false
}

// importRoleWords are the role cells an import file should use: the
// Chinese names of the roles an import places, all of them school accounts.
// ParseRole also reads the English codes, and the district and city roles
// so that those are refused as role_not_allowed rather than unknown.
var importRoleWords = []string{"教师", "老师", "校长", "园长", "学校管理员"}

// ImportRoleWords returns the role words an import file accepts for the
// accounts it can create, as the import template and its errors name them.
func ImportRoleWords() []string { return append([]string(nil), importRoleWords...) }

// nameImportRoles makes the enum error of a row's role name the words an
// import file accepts rather than the API's role codes: an admin filling in
// a sheet writes 教师, and sysadmin is never granted by import.
func nameImportRoles(fields []FieldError) {
	for i, fe := range fields {
		if fe.Field == "role" && fe.Code == "enum" {
			fields[i].Args = map[string]any{"options": strings.Join(importRoleWords, "、")}
		}
	}
}

// Import template formats.
const (
	ImportTemplateXLSX = "xlsx"
	ImportTemplateCSV  = "csv"
)

// importTemplateRows are the rows of the import template: every column's
// canonical header, then one example account (its school is an example
// too: the admin replaces it with one of theirs, by name or code).
func importTemplateRows() [][]string {
	header := make([]string, 0, numImportColumns)
	for c := range numImportColumns {
		header = append(header, columnName(c))
	}
	return [][]string{header, {"张三", "13800138000", "教师", "实验小学", "", ""}}
}

// ImportTemplate returns the sheet admins fill in to import users, in
// format xlsx or csv: the header row and one example row. The CSV is UTF-8
// with a BOM, so Excel opens it as UTF-8; the XLSX sheet is named 用户, keeps
// mobiles and school codes as text and offers the role words in a list.
func ImportTemplate(format string) ([]byte, error) {
	const op = "users.import_template"
	rows := importTemplateRows()
	switch format {
	case ImportTemplateCSV:
		var b bytes.Buffer
		b.WriteString("\uFEFF")
		w := csv.NewWriter(&b)
		w.UseCRLF = true
		if err := w.WriteAll(rows); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		return b.Bytes(), nil
	case ImportTemplateXLSX:
		b, err := importTemplateXLSX(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		return b, nil
	}
	return nil, Invalid(op, Field("format", "enum", "options", ImportTemplateXLSX+", "+ImportTemplateCSV))
}

func importTemplateXLSX(rows [][]string) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "用户"
	if err := f.SetSheetName(f.GetSheetName(0), sheet); err != nil {
		return nil, err
	}
	// Text cells for every column: a mobile or a school code typed into a
	// General cell becomes a number (and, past 15 digits, a rounded one).
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{NumFmt: 49, Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	last, err := excelize.ColumnNumberToName(len(rows[0]))
	if err != nil {
		return nil, err
	}
	if err := f.SetColStyle(sheet, "A:"+last, text); err != nil {
		return nil, err
	}
	if err := f.SetColWidth(sheet, "A", last, 16); err != nil {
		return nil, err
	}
	for i, row := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		if err != nil {
			return nil, err
		}
		if err := f.SetSheetRow(sheet, cell, &row); err != nil {
			return nil, err
		}
	}
	if err := f.SetCellStyle(sheet, "A1", last+"1", bold); err != nil {
		return nil, err
	}
	// A drop-down of the role words; other entries stay allowed (English
	// codes read too), the import names the accepted words if one is wrong.
	dv := excelize.NewDataValidation(true)
	dv.Sqref = fmt.Sprintf("C2:C%d", MaxImportRows+1)
	if err := dv.SetDropList(importRoleWords); err != nil {
		return nil, err
	}
	if err := f.AddDataValidation(sheet, dv); err != nil {
		return nil, err
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NormalizeMobile returns the 11-digit mainland mobile number in s
// (^1[3-9]\d{9}$), after dropping spaces, dashes and a leading +86 or 86 and
// folding full-width digits, or false.
func NormalizeMobile(s string) (string, bool) {
	s = norm.NFKC.String(s)
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' || r == '\u00A0' {
			return -1
		}
		return r
	}, s)
	if rest, ok := strings.CutPrefix(s, "+86"); ok {
		s = rest
	} else if len(s) == 13 {
		s = strings.TrimPrefix(s, "86")
	}
	if len(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9' {
		return "", false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}
