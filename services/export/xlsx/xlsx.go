// Package xlsx streams Excel workbooks (SpreadsheetML) to a writer: sheets one after another, rows written as they come, nothing of a sheet kept once written, so memory stays flat at any size and the first bytes leave at once. It owns nothing but the file format.
//
// Each sheet is one deflated zip entry, xl/worksheets/sheetN.xml, written
// while its rows arrive: the sheet view with the frozen header, the column
// widths and the header row go out when the sheet starts, each row when it
// is appended, and the autofilter when the sheet ends. Strings are inline
// strings, so there is no shared-string table to hold; the workbook, its
// relationships, the styles, the content types and the document properties
// are written by Close, from nothing more than the list of sheet names.
package xlsx

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ColumnKind is what a column holds; it decides how a cell's text is written.
type ColumnKind int

const (
	// Text columns write a cell's text as an inline string.
	Text ColumnKind = iota
	// Number columns hold numbers; a cell gives one with IsNumber, and a
	// cell without it is written as its text.
	Number
	// Date columns write a cell's YYYY-MM-DD text as an Excel date (a serial
	// day number shown as yyyy-mm-dd) and a number as such a serial day; any
	// other text, and days before 1900-03-01, are written as text.
	Date
)

// Column describes a sheet column: its header, what it holds and its width.
type Column struct {
	Header string     // the header row's text
	Kind   ColumnKind // Text, Number or Date
	Width  int        // width in characters (0: 10; at most 255)
}

// Cell is a cell's value: a number when IsNumber is set, else the text (a
// Date column's Text is YYYY-MM-DD). An empty text leaves the cell empty.
type Cell struct {
	Text     string
	Number   float64
	IsNumber bool
}

// ErrTooManyRows is returned by Row when the sheet already holds the
// 1,048,576 rows (the header row included) an Excel sheet can hold.
var ErrTooManyRows = errors.New("xlsx: a sheet holds at most 1048576 rows")

const (
	maxRows      = 1 << 20 // rows in a sheet, the header row included
	maxCols      = 1 << 14 // columns in a sheet (A to XFD)
	maxCellChars = 32767   // characters (UTF-16 code units) in a cell
	maxNameChars = 31      // characters in a sheet name
	maxWidth     = 255     // a column's width in characters
	defaultWidth = 10
	bufferSize   = 64 << 10 // the buffer in front of a sheet's zip entry

	rowBufferCap = 1 << 20 // a row buffer grown past this is not kept

	// compressionLevel is deflate's level 2: on sheet XML it is three times
	// as fast as the default level 6 (deflate is most of a sheet's cost) for
	// files about a sixth larger; level 1 is no faster and larger still.
	compressionLevel = 2

	styleHeader = "1" // cellXfs index: bold on a light blue fill
	styleDate   = "2" // cellXfs index: yyyy-mm-dd

	// 1970-01-01 is Excel's serial day 25569 (day 0 is 1899-12-30); Excel
	// counts a 29 February 1900 that never was, so serials are only right
	// from 1900-03-01, serial 61.
	unixEpochSerial = 25569
	firstSerial     = 61
)

// Writer writes a workbook to an io.Writer, sheet by sheet and row by row.
// It keeps the current sheet's columns, a row's buffer and the names of the
// sheets written; it is not safe for concurrent use.
type Writer struct {
	zw  *zip.Writer
	fw  *flate.Writer // the compressor of every entry
	bw  *bufio.Writer // in front of the current sheet's zip entry
	now time.Time

	sheets []sheet // the sheets started, in order
	cols   []Column
	refs   []string // the current sheet's column letters
	rows   int      // rows written to the current sheet, the header included
	open   bool     // a sheet is started and not yet ended

	buf    []byte   // the row being written
	num    []byte   // the current row's number, in numBuf
	numBuf [20]byte //
	err    error    // the first write error; every later call returns it
	closed bool
}

// sheet is what the workbook needs of a sheet written.
type sheet struct {
	name    string
	lastCol string // the last column's letters; "" when it has no columns
	lastRow int
}

// NewWriter returns a Writer writing a workbook to w. Nothing is written
// until the first sheet starts; call Close to finish the workbook (it does
// not close w).
func NewWriter(w io.Writer) *Writer {
	x := &Writer{
		zw:  zip.NewWriter(w),
		bw:  bufio.NewWriterSize(nil, bufferSize),
		now: time.Now().UTC().Truncate(time.Second),
		buf: make([]byte, 0, 4<<10),
	}
	// Entries are written one at a time, so one compressor serves them all.
	x.zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		if x.fw == nil {
			fw, err := flate.NewWriter(out, compressionLevel)
			x.fw = fw
			return fw, err
		}
		x.fw.Reset(out)
		return x.fw, nil
	})
	return x
}

// Sheet starts a sheet named name with a bold, shaded header row of the
// columns, frozen, with an autofilter over the columns; it ends the sheet
// before it.
//
// The caller passes a valid, unique name, and Sheet returns an error if it is
// not: at most 31 characters, none of []:*?/\ or control characters, not
// starting or ending with an apostrophe, not "History" (reserved by Excel),
// and not a name already used, ignoring case as Excel does. A sheet without
// columns has no header row, frozen pane or autofilter.
func (w *Writer) Sheet(name string, cols []Column) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.checkName(name); err != nil {
		return err
	}
	if len(cols) > maxCols {
		return fmt.Errorf("xlsx: sheet %q: %d columns, at most %d", name, len(cols), maxCols)
	}
	for i, c := range cols {
		if c.Kind < Text || c.Kind > Date {
			return fmt.Errorf("xlsx: sheet %q: column %d (%q): unknown kind %d", name, i+1, c.Header, c.Kind)
		}
	}
	if err := w.endSheet(); err != nil {
		return err
	}
	return w.startSheet(name, cols)
}

// Row appends a row to the current sheet: cell i goes to column i. More
// cells than the sheet has columns are an error; fewer leave the rest empty.
//
// Numbers that are NaN or infinite leave their cell empty; text longer than
// Excel's 32,767 characters is cut there, and characters XML cannot carry
// are dropped. A sheet full to Excel's 1,048,576 rows gives ErrTooManyRows.
func (w *Writer) Row(cells []Cell) error {
	if err := w.usable(); err != nil {
		return err
	}
	if !w.open {
		return errors.New("xlsx: Row before Sheet")
	}
	if len(cells) > len(w.cols) {
		return fmt.Errorf("xlsx: a row of %d cells in a sheet of %d columns", len(cells), len(w.cols))
	}
	if w.rows >= maxRows {
		return ErrTooManyRows
	}
	b := w.beginRow()
	for i := range cells {
		b = w.appendCell(b, i, &cells[i])
	}
	return w.endRow(b)
}

// Close ends the last sheet and writes the rest of the workbook: workbook.xml
// and its relationships, the styles, [Content_Types].xml and the document
// properties. A workbook with no sheet gets one empty sheet named "Sheet1",
// so it still opens.
//
// It does not close the underlying writer. Calling Close again returns what
// the first call returned.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.endSheet(); err != nil {
		return err
	}
	if len(w.sheets) == 0 {
		if err := w.startSheet("Sheet1", nil); err != nil {
			return err
		}
		if err := w.endSheet(); err != nil {
			return err
		}
	}
	parts := []struct {
		name string
		body func([]byte) []byte
	}{
		{"xl/workbook.xml", w.appendWorkbook},
		{"xl/_rels/workbook.xml.rels", w.appendWorkbookRels},
		{"xl/styles.xml", appendStyles},
		{"docProps/core.xml", w.appendCore},
		{"docProps/app.xml", appendApp},
		{"_rels/.rels", appendRootRels},
		{"[Content_Types].xml", w.appendContentTypes},
	}
	for _, p := range parts {
		w.buf = p.body(w.buf[:0])
		if err := w.writePart(p.name, w.buf); err != nil {
			return err
		}
	}
	if err := w.zw.Close(); err != nil {
		return w.fail(err)
	}
	return nil
}

// usable reports why the writer cannot be used, if it cannot.
func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("xlsx: writer closed")
	}
	return nil
}

// fail records the first write error and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// checkName tells why name cannot name the next sheet, if it cannot.
func (w *Writer) checkName(name string) error {
	if name == "" {
		return errors.New("xlsx: empty sheet name")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("xlsx: sheet name %q is not UTF-8", name)
	}
	n := 0
	for _, r := range name {
		switch {
		case strings.ContainsRune(`[]:*?/\`, r):
			return fmt.Errorf("xlsx: sheet name %q holds %q", name, r)
		case !xmlChar(r) || r < 0x20:
			return fmt.Errorf("xlsx: sheet name %q holds the control character %U", name, r)
		}
		n += utf16Len(r)
	}
	if n > maxNameChars {
		return fmt.Errorf("xlsx: sheet name %q is longer than %d characters", name, maxNameChars)
	}
	if name[0] == '\'' || name[len(name)-1] == '\'' {
		return fmt.Errorf("xlsx: sheet name %q starts or ends with an apostrophe", name)
	}
	if strings.EqualFold(name, "History") {
		return fmt.Errorf("xlsx: sheet name %q is reserved by Excel", name)
	}
	for _, s := range w.sheets {
		if strings.EqualFold(s.name, name) {
			return fmt.Errorf("xlsx: sheet name %q is taken by sheet %q", name, s.name)
		}
	}
	return nil
}

// startSheet opens the next sheet's zip entry and writes everything before
// its first row: the frozen pane, the column widths and the header row.
func (w *Writer) startSheet(name string, cols []Column) error {
	n := len(w.sheets) + 1
	entry, err := w.zw.CreateHeader(&zip.FileHeader{
		Name:     "xl/worksheets/sheet" + strconv.Itoa(n) + ".xml",
		Method:   zip.Deflate,
		Modified: w.now,
	})
	if err != nil {
		return w.fail(err)
	}
	w.bw.Reset(entry)
	w.cols = append(w.cols[:0], cols...)
	w.refs = w.refs[:0]
	for i := range cols {
		w.refs = append(w.refs, columnName(i+1))
	}
	w.sheets = append(w.sheets, sheet{name: name})
	w.rows = 0
	w.open = true

	b := append(w.buf[:0], xmlHeader...)
	b = append(b, `<worksheet xmlns="`+nsMain+`" xmlns:r="`+nsRel+`">`...)
	b = append(b, `<sheetViews><sheetView workbookViewId="0"`...)
	if n == 1 {
		b = append(b, ` tabSelected="1"`...)
	}
	if len(cols) == 0 {
		b = append(b, `/></sheetViews>`...)
	} else {
		b = append(b, `><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>`+
			`<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>`...)
		b = append(b, `<cols>`...)
		for i, c := range cols {
			width := c.Width
			if width <= 0 {
				width = defaultWidth
			}
			width = min(width, maxWidth)
			b = append(b, `<col min="`...)
			b = strconv.AppendInt(b, int64(i+1), 10)
			b = append(b, `" max="`...)
			b = strconv.AppendInt(b, int64(i+1), 10)
			b = append(b, `" width="`...)
			b = strconv.AppendInt(b, int64(width), 10)
			b = append(b, `" customWidth="1"/>`...)
		}
		b = append(b, `</cols>`...)
	}
	b = append(b, `<sheetData>`...)
	w.buf = b
	if _, err := w.bw.Write(b); err != nil {
		return w.fail(err)
	}
	if len(cols) == 0 {
		return nil
	}
	b = w.beginRow()
	for i, c := range cols {
		b = w.appendRef(b, i)
		b = append(b, ` s="`+styleHeader+`"`...)
		b = appendInlineString(b, c.Header)
	}
	return w.endRow(b)
}

// endSheet ends the current sheet, if one is open: the autofilter over the
// header and the rows, then the worksheet's end, flushed into its entry.
func (w *Writer) endSheet() error {
	if !w.open {
		return nil
	}
	w.open = false
	s := &w.sheets[len(w.sheets)-1]
	s.lastRow = w.rows
	b := append(w.buf[:0], `</sheetData>`...)
	if len(w.cols) > 0 {
		s.lastCol = w.refs[len(w.refs)-1]
		b = append(b, `<autoFilter ref="A1:`...)
		b = append(b, s.lastCol...)
		b = strconv.AppendInt(b, int64(s.lastRow), 10)
		b = append(b, `"/>`...)
	}
	b = append(b, `</worksheet>`...)
	w.buf = b
	if _, err := w.bw.Write(b); err != nil {
		return w.fail(err)
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(err)
	}
	w.bw.Reset(nil)
	return nil
}

// beginRow counts the next row and starts it in the row buffer.
func (w *Writer) beginRow() []byte {
	w.rows++
	w.num = strconv.AppendInt(w.numBuf[:0], int64(w.rows), 10)
	b := append(w.buf[:0], `<row r="`...)
	b = append(b, w.num...)
	return append(b, `">`...)
}

// endRow ends the row in b and writes it to the sheet.
func (w *Writer) endRow(b []byte) error {
	b = append(b, `</row>`...)
	_, err := w.bw.Write(b)
	if cap(b) > rowBufferCap {
		b = make([]byte, 0, 4<<10)
	}
	w.buf = b[:0]
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// appendCell appends the cell of column i, unless it is empty.
func (w *Writer) appendCell(b []byte, i int, c *Cell) []byte {
	kind := w.cols[i].Kind
	switch {
	case c.IsNumber:
		if math.IsNaN(c.Number) || math.IsInf(c.Number, 0) {
			return b
		}
		b = w.appendRef(b, i)
		if kind == Date {
			b = append(b, ` s="`+styleDate+`"`...)
		}
		b = append(b, ` t="n"><v>`...)
		b = appendNumber(b, c.Number)
		return append(b, `</v></c>`...)
	case c.Text == "":
		return b
	case kind == Date:
		if serial, ok := dateSerial(c.Text); ok {
			b = w.appendRef(b, i)
			b = append(b, ` s="`+styleDate+`" t="n"><v>`...)
			b = strconv.AppendInt(b, serial, 10)
			return append(b, `</v></c>`...)
		}
	}
	b = w.appendRef(b, i)
	return appendInlineString(b, c.Text)
}

// appendRef opens the cell of column i in the current row: <c r="B7".
func (w *Writer) appendRef(b []byte, i int) []byte {
	b = append(b, `<c r="`...)
	b = append(b, w.refs[i]...)
	b = append(b, w.num...)
	return append(b, '"')
}

// appendInlineString ends an opened cell with s as its inline string.
func appendInlineString(b []byte, s string) []byte {
	b = append(b, ` t="inlineStr"><is><t xml:space="preserve">`...)
	b = appendText(b, s, maxCellChars, true)
	return append(b, `</t></is></c>`...)
}

// appendNumber appends x as <v> holds it: plain decimals for the numbers
// people write, exponent notation for the very large and the very small.
func appendNumber(b []byte, x float64) []byte {
	if x == 0 {
		return append(b, '0') // also -0
	}
	if a := math.Abs(x); a >= 1e-9 && a < 1e21 {
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, x, 'E', -1, 64)
}

// dateSerial gives the Excel serial day of s, a date written YYYY-MM-DD,
// if s is one Excel can show (1900-03-01 to 9999-12-31).
func dateSerial(s string) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31 April, 29 February of a common year
		return 0, false
	}
	serial := t.Unix()/86400 + unixEpochSerial
	if serial < firstSerial {
		return 0, false
	}
	return serial, true
}

// digits reads s, made only of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// columnName gives the letters of the n-th column (1: A, 27: AA).
func columnName(n int) string {
	var buf [4]byte
	i := len(buf)
	for n > 0 {
		n--
		i--
		buf[i] = byte('A' + n%26)
		n /= 26
	}
	return string(buf[i:])
}

// appendText appends s escaped for XML text and attribute values: & < > "
// as entities, CR as a character reference (a parser would make it LF),
// characters XML 1.0 forbids (control characters other than tab, LF and CR,
// U+FFFE, U+FFFF, bytes that are not UTF-8) dropped, and an underscore that
// would start an _xHHHH_ escape — which Excel decodes in strings (bstr) —
// escaped itself, so the text reads back as written. At most limit
// characters (UTF-16 code units, as Excel counts) are kept.
func appendText(b []byte, s string, limit int, bstr bool) []byte {
	n := 0 // characters kept
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				continue
			}
			if n >= limit {
				break
			}
			n++
			switch c {
			case '&':
				b = append(b, "&amp;"...)
			case '<':
				b = append(b, "&lt;"...)
			case '>':
				b = append(b, "&gt;"...)
			case '"':
				b = append(b, "&quot;"...)
			case '\r':
				b = append(b, "&#xD;"...)
			case '_':
				if bstr && isBstrEscape(s[i-1:]) {
					b = append(b, "_x005F_"...)
				} else {
					b = append(b, '_')
				}
			default:
				b = append(b, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if (r == utf8.RuneError && size == 1) || !xmlChar(r) {
			continue
		}
		u := utf16Len(r)
		if n+u > limit {
			break
		}
		n += u
		b = append(b, s[i-size:i]...)
	}
	return b
}

// isBstrEscape tells whether s starts with _xHHHH_ (H a hex digit).
func isBstrEscape(s string) bool {
	if len(s) < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for i := 2; i < 6; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// xmlChar tells whether XML 1.0 allows r in a document.
func xmlChar(r rune) bool {
	switch {
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= utf8.MaxRune
	}
}

// utf16Len gives how many UTF-16 code units r takes: how Excel counts it.
func utf16Len(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// writePart writes a whole zip entry.
func (w *Writer) writePart(name string, body []byte) error {
	f, err := w.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: w.now})
	if err != nil {
		return w.fail(err)
	}
	if _, err := f.Write(body); err != nil {
		return w.fail(err)
	}
	return nil
}

const (
	xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	nsMain    = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	nsRel     = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsPkgRel  = "http://schemas.openxmlformats.org/package/2006/relationships"
	relDoc    = nsRel + "/officeDocument"
	relSheet  = nsRel + "/worksheet"
	relStyles = nsRel + "/styles"
	relApp    = nsRel + "/extended-properties"
	relCore   = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
	ctPrefix  = "application/vnd.openxmlformats-officedocument.spreadsheetml."
)

// appendWorkbook appends xl/workbook.xml: the sheets in order, and for each
// sheet with an autofilter the hidden _xlnm._FilterDatabase name Excel
// keeps the filter's range in.
func (w *Writer) appendWorkbook(b []byte) []byte {
	b = append(b, xmlHeader...)
	b = append(b, `<workbook xmlns="`+nsMain+`" xmlns:r="`+nsRel+`">`...)
	b = append(b, `<bookViews><workbookView activeTab="0"/></bookViews><sheets>`...)
	for i, s := range w.sheets {
		b = append(b, `<sheet name="`...)
		b = appendText(b, s.name, maxNameChars, true)
		b = append(b, `" sheetId="`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `" r:id="rId`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `"/>`...)
	}
	b = append(b, `</sheets>`...)
	filters := false
	for i, s := range w.sheets {
		if s.lastCol == "" {
			continue
		}
		if !filters {
			b = append(b, `<definedNames>`...)
			filters = true
		}
		b = append(b, `<definedName name="_xlnm._FilterDatabase" localSheetId="`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `" hidden="1">'`...)
		b = appendText(b, strings.ReplaceAll(s.name, "'", "''"), 2*maxNameChars, false)
		b = append(b, `'!$A$1:$`...)
		b = append(b, s.lastCol...)
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(s.lastRow), 10)
		b = append(b, `</definedName>`...)
	}
	if filters {
		b = append(b, `</definedNames>`...)
	}
	return append(b, `</workbook>`...)
}

// appendWorkbookRels appends xl/_rels/workbook.xml.rels: rId1 to rIdN the
// sheets, then the styles.
func (w *Writer) appendWorkbookRels(b []byte) []byte {
	b = append(b, xmlHeader...)
	b = append(b, `<Relationships xmlns="`+nsPkgRel+`">`...)
	for i := range w.sheets {
		b = append(b, `<Relationship Id="rId`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `" Type="`+relSheet+`" Target="worksheets/sheet`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `.xml"/>`...)
	}
	b = append(b, `<Relationship Id="rId`...)
	b = strconv.AppendInt(b, int64(len(w.sheets)+1), 10)
	b = append(b, `" Type="`+relStyles+`" Target="styles.xml"/>`...)
	return append(b, `</Relationships>`...)
}

// appendContentTypes appends [Content_Types].xml.
func (w *Writer) appendContentTypes(b []byte) []byte {
	b = append(b, xmlHeader...)
	b = append(b, `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`+
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>`+
		`<Default Extension="xml" ContentType="application/xml"/>`+
		`<Override PartName="/xl/workbook.xml" ContentType="`+ctPrefix+`sheet.main+xml"/>`+
		`<Override PartName="/xl/styles.xml" ContentType="`+ctPrefix+`styles+xml"/>`+
		`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>`+
		`<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>`...)
	for i := range w.sheets {
		b = append(b, `<Override PartName="/xl/worksheets/sheet`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `.xml" ContentType="`+ctPrefix+`worksheet+xml"/>`...)
	}
	return append(b, `</Types>`...)
}

// appendRootRels appends _rels/.rels: the workbook and the properties.
func appendRootRels(b []byte) []byte {
	b = append(b, xmlHeader...)
	return append(b, `<Relationships xmlns="`+nsPkgRel+`">`+
		`<Relationship Id="rId1" Type="`+relDoc+`" Target="xl/workbook.xml"/>`+
		`<Relationship Id="rId2" Type="`+relCore+`" Target="docProps/core.xml"/>`+
		`<Relationship Id="rId3" Type="`+relApp+`" Target="docProps/app.xml"/>`+
		`</Relationships>`...)
}

// appendCore appends docProps/core.xml: when the workbook was made.
func (w *Writer) appendCore(b []byte) []byte {
	b = append(b, xmlHeader...)
	b = append(b, `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"`+
		` xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"`+
		` xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`...)
	for _, el := range [...]string{"dcterms:created", "dcterms:modified"} {
		b = append(b, '<')
		b = append(b, el...)
		b = append(b, ` xsi:type="dcterms:W3CDTF">`...)
		b = w.now.AppendFormat(b, "2006-01-02T15:04:05Z")
		b = append(b, "</"...)
		b = append(b, el...)
		b = append(b, '>')
	}
	return append(b, `</cp:coreProperties>`...)
}

// appendApp appends docProps/app.xml.
func appendApp(b []byte) []byte {
	b = append(b, xmlHeader...)
	return append(b, `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"`+
		` xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">`+
		`<Application>huizong</Application></Properties>`...)
}

// appendStyles appends xl/styles.xml: cell format 0 the default (宋体 11),
// 1 the header (bold on light blue DDEBF7), 2 dates (yyyy-mm-dd).
func appendStyles(b []byte) []byte {
	b = append(b, xmlHeader...)
	return append(b, `<styleSheet xmlns="`+nsMain+`">`+
		`<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>`+
		`<fonts count="2">`+
		`<font><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>`+
		`<font><b/><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>`+
		`</fonts>`+
		`<fills count="3">`+
		`<fill><patternFill patternType="none"/></fill>`+
		`<fill><patternFill patternType="gray125"/></fill>`+
		`<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill>`+
		`</fills>`+
		`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>`+
		`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>`+
		`<cellXfs count="3">`+
		`<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>`+
		`<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>`+
		`<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>`+
		`</cellXfs>`+
		`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>`+
		`<dxfs count="0"/><tableStyles count="0"/>`+
		`</styleSheet>`...)
}
