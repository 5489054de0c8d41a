package docx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
	"time"
)

const title = "城区教育局2025学年工作总结（数据部分）"

// requiredParts are the package parts Write must produce.
var requiredParts = []string{
	"[Content_Types].xml",
	"_rels/.rels",
	"word/document.xml",
	"word/styles.xml",
	"word/settings.xml",
	"word/_rels/document.xml.rels",
	"docProps/core.xml",
	"docProps/app.xml",
}

func sampleDocument() Document {
	return Document{
		Title:   title,
		Author:  "城区教育局",
		Created: time.Date(2025, 7, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		Blocks: []Block{
			Heading{Text: "一、平安校园建设", Level: 1},
			Paragraph{Text: "全区共开展消防、地震等应急疏散演练312场次<&>\"'，\x01参与学生4.52万人次。\n较上年增加36场次。\t完"},
			Heading{Text: "（一）应急演练", Level: 2},
			Paragraph{Text: "  前导空格保留"},
			Table{
				Caption: "表1 城区2025学年统计表",
				Header: [][]string{
					{"类别", "2025学年"}, // short header row: padded
					{"", "单位", "数值"},
				},
				Rows: [][]Cell{
					{{Text: "应急演练"}, {Text: "场次"}, {Text: "312", Number: true}},
					{{Text: "参与学生"}, {Text: "万人次"}, {Text: "4.52", Number: true}},
					{{Text: "合计", Bold: true}, {}, {Text: "316.52", Number: true, Bold: true}},
					{{Text: "备注：数据截至2025年6月"}}, // short row: padded
				},
			},
		},
	}
}

func TestWrite(t *testing.T) {
	parts := write(t, sampleDocument())

	body := parse(t, parts["word/document.xml"]).child("body")
	if body == nil {
		t.Fatal("word/document.xml has no w:body")
	}
	kids := body.children
	wantKinds := []string{"p", "p", "p", "p", "p", "p", "tbl", "p", "sectPr"}
	if got := names(kids); strings.Join(got, " ") != strings.Join(wantKinds, " ") {
		t.Fatalf("body elements = %v, want %v", got, wantKinds)
	}

	paragraphs := []struct {
		name    string
		index   int
		style   string
		text    string
		indent  bool
		jc      string
		boldRun bool
	}{
		{"title", 0, "Title", title, false, "", false},
		{"heading 1", 1, "Heading1", "一、平安校园建设", false, "", false},
		{"paragraph with escapes, control char, newline, tab", 2, "",
			"全区共开展消防、地震等应急疏散演练312场次<&>\"'，参与学生4.52万人次。\n较上年增加36场次。\t完", true, "", false},
		{"heading 2", 3, "Heading2", "（一）应急演练", false, "", false},
		{"leading spaces", 4, "", "  前导空格保留", true, "", false},
		{"caption", 5, "", "表1 城区2025学年统计表", false, "center", true},
	}
	for _, tc := range paragraphs {
		t.Run(tc.name, func(t *testing.T) {
			p := kids[tc.index]
			if got := p.child("pPr").child("pStyle").attr("val"); got != tc.style {
				t.Errorf("pStyle = %q, want %q", got, tc.style)
			}
			if got := paragraphText(p); got != tc.text {
				t.Errorf("text = %q, want %q", got, tc.text)
			}
			ind := p.child("pPr").child("ind")
			if tc.indent && ind.attr("firstLineChars") != "200" {
				t.Errorf("w:ind firstLineChars = %q, want 200", ind.attr("firstLineChars"))
			}
			if !tc.indent && ind != nil {
				t.Errorf("unexpected w:ind")
			}
			if got := p.child("pPr").child("jc").attr("val"); got != tc.jc {
				t.Errorf("jc = %q, want %q", got, tc.jc)
			}
			if got := runBold(p); got != tc.boldRun {
				t.Errorf("bold = %v, want %v", got, tc.boldRun)
			}
		})
	}

	// The paragraph's newline is a w:br, the tab a w:tab, and spaces are
	// preserved.
	p := kids[2]
	if len(p.all("br")) != 1 || len(p.all("tab")) != 1 {
		t.Errorf("paragraph has %d w:br and %d w:tab, want 1 and 1", len(p.all("br")), len(p.all("tab")))
	}
	for _, wt := range kids[4].all("t") {
		if wt.attrNS(xmlNS, "space") != "preserve" {
			t.Errorf("w:t without xml:space=preserve")
		}
	}
	if strings.Contains(string(parts["word/document.xml"]), "\x01") {
		t.Error("control character \\x01 in word/document.xml")
	}

	t.Run("table", func(t *testing.T) { checkTable(t, kids[6]) })

	// Every run with text carries the East Asian font hint.
	for _, r := range body.all("r") {
		if len(r.all("t")) > 0 && r.child("rPr").child("rFonts").attr("hint") != "eastAsia" {
			t.Errorf("run %q lacks w:rFonts w:hint=eastAsia", paragraphText(r))
		}
	}

	sect := kids[len(kids)-1]
	if sz := sect.child("pgSz"); sz.attr("w") != "11906" || sz.attr("h") != "16838" {
		t.Errorf("pgSz = %v×%v, want A4 11906×16838", sz.attr("w"), sz.attr("h"))
	}
	for _, side := range []string{"top", "right", "bottom", "left"} {
		if got := sect.child("pgMar").attr(side); got != "1440" {
			t.Errorf("pgMar %s = %q, want 1440", side, got)
		}
	}

	t.Run("styles", func(t *testing.T) { checkStyles(t, parts["word/styles.xml"]) })

	t.Run("content types", func(t *testing.T) {
		const want = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
		if got := contentTypes(t, parts)["/word/document.xml"]; got != want {
			t.Errorf("content type of /word/document.xml = %q, want %q", got, want)
		}
	})

	t.Run("core properties", func(t *testing.T) {
		core := parse(t, parts["docProps/core.xml"])
		for _, tc := range []struct{ space, local, want string }{
			{"http://purl.org/dc/elements/1.1/", "title", title},
			{"http://purl.org/dc/elements/1.1/", "creator", "城区教育局"},
			{"http://purl.org/dc/terms/", "created", "2025-07-01T00:00:00Z"},
			{"http://purl.org/dc/terms/", "modified", "2025-07-01T00:00:00Z"},
		} {
			n := core.childNS(tc.space, tc.local)
			if n == nil || n.text != tc.want {
				t.Errorf("core %s = %v, want %q", tc.local, n, tc.want)
			}
		}
	})
}

func checkTable(t *testing.T, tbl *node) {
	const cols, headerRows, rows = 3, 2, 6
	if got := tbl.child("tblPr").child("tblStyle").attr("val"); got != "TableGrid" {
		t.Errorf("tblStyle = %q, want TableGrid", got)
	}
	if w := tbl.child("tblPr").child("tblW"); w.attr("type") != "pct" || w.attr("w") != "5000" {
		t.Errorf("tblW = %s %s, want pct 5000", w.attr("type"), w.attr("w"))
	}
	if tbl.child("tblPr").child("tblBorders").child("insideV").attr("val") != "single" {
		t.Error("table lacks single inside borders")
	}
	if got := len(tbl.child("tblGrid").childrenNamed("gridCol")); got != cols {
		t.Errorf("%d w:gridCol, want %d", got, cols)
	}
	trs := tbl.childrenNamed("tr")
	if len(trs) != rows {
		t.Fatalf("%d w:tr, want %d", len(trs), rows)
	}
	for i, tr := range trs {
		tcs := tr.childrenNamed("tc")
		if len(tcs) != cols {
			t.Errorf("row %d has %d w:tc, want %d", i, len(tcs), cols)
		}
		header := tr.child("trPr").child("tblHeader") != nil
		if header != (i < headerRows) {
			t.Errorf("row %d: w:tblHeader = %v, want %v", i, header, i < headerRows)
		}
		for j, tc := range tcs {
			if len(tc.childrenNamed("p")) == 0 {
				t.Errorf("cell %d,%d has no w:p", i, j)
			}
			if i < headerRows && paragraphText(tc) != "" && !runBold(tc) {
				t.Errorf("header cell %d,%d is not bold", i, j)
			}
		}
	}

	cells := []struct {
		row, col int
		text     string
		right    bool
		bold     bool
	}{
		{0, 0, "类别", false, true},
		{0, 2, "", false, false}, // padding
		{1, 2, "数值", false, true},
		{2, 0, "应急演练", false, false},
		{2, 2, "312", true, false},
		{3, 2, "4.52", true, false},
		{4, 0, "合计", false, true},
		{4, 1, "", false, false},
		{4, 2, "316.52", true, true},
		{5, 0, "备注：数据截至2025年6月", false, false},
		{5, 2, "", false, false}, // padding
	}
	for _, c := range cells {
		tc := trs[c.row].childrenNamed("tc")[c.col]
		if got := paragraphText(tc); got != c.text {
			t.Errorf("cell %d,%d text = %q, want %q", c.row, c.col, got, c.text)
		}
		p := tc.child("p")
		if right := p.child("pPr").child("jc").attr("val") == "right"; right != c.right {
			t.Errorf("cell %d,%d right-aligned = %v, want %v", c.row, c.col, right, c.right)
		}
		if bold := runBold(p); bold != c.bold {
			t.Errorf("cell %d,%d bold = %v, want %v", c.row, c.col, bold, c.bold)
		}
	}
}

func checkStyles(t *testing.T, data []byte) {
	if !bytes.Contains(data, []byte(`w:eastAsia="宋体"`)) {
		t.Error(`styles.xml lacks w:eastAsia="宋体"`)
	}
	styles := parse(t, data)
	rPr := styles.child("docDefaults").child("rPrDefault").child("rPr")
	fonts := rPr.child("rFonts")
	if fonts.attr("eastAsia") != "宋体" || fonts.attr("ascii") != "Times New Roman" || fonts.attr("hint") != "eastAsia" {
		t.Errorf("default fonts = %v", fonts.attrs)
	}
	if got := rPr.child("sz").attr("val"); got != "24" {
		t.Errorf("default size = %q, want 24 (12pt)", got)
	}
	byID := map[string]*node{}
	for _, s := range styles.childrenNamed("style") {
		byID[s.attr("styleId")] = s
	}
	for _, tc := range []struct{ id, typ, outline string }{
		{"Normal", "paragraph", ""},
		{"Title", "paragraph", ""},
		{"Heading1", "paragraph", "0"},
		{"Heading2", "paragraph", "1"},
		{"TableGrid", "table", ""},
	} {
		s := byID[tc.id]
		if s == nil {
			t.Errorf("no style %s", tc.id)
			continue
		}
		if got := s.attr("type"); got != tc.typ {
			t.Errorf("style %s type = %q, want %q", tc.id, got, tc.typ)
		}
		if got := s.child("pPr").child("outlineLvl").attr("val"); got != tc.outline {
			t.Errorf("style %s outlineLvl = %q, want %q", tc.id, got, tc.outline)
		}
	}
	if byID["TableGrid"].child("tblPr").child("tblBorders").child("top").attr("val") != "single" {
		t.Error("TableGrid lacks single borders")
	}
}

// TestWriteValid writes edge-case documents and checks each is a complete,
// well-formed, correctly referenced package whose body ends with a paragraph
// and has no adjacent tables (which Word would merge).
func TestWriteValid(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		body []string
	}{
		{"empty", Document{}, []string{"p", "sectPr"}},
		{"title only", Document{Title: title}, []string{"p", "sectPr"}},
		{"empty paragraph", Document{Blocks: []Block{Paragraph{}}}, []string{"p", "sectPr"}},
		{"table only", Document{Blocks: []Block{Table{Rows: [][]Cell{{{Text: "1"}}}}}}, []string{"tbl", "p", "sectPr"}},
		{"adjacent tables", Document{Blocks: []Block{
			Table{Header: [][]string{{"a"}}},
			Table{Rows: [][]Cell{{{Text: "1"}}}},
			Paragraph{Text: "完"},
		}}, []string{"tbl", "p", "tbl", "p", "sectPr"}},
		{"captioned table without cells", Document{Blocks: []Block{Table{Caption: "表2"}}}, []string{"p", "sectPr"}},
		{"table without cells", Document{Blocks: []Block{Table{Rows: [][]Cell{{}}}}}, []string{"p", "sectPr"}},
		{"pointer blocks", Document{Blocks: []Block{
			&Heading{Text: "一、", Level: 3},
			&Paragraph{Text: "正文"},
			&Table{Rows: [][]Cell{{{Text: "1"}}}},
		}}, []string{"p", "p", "tbl", "p", "sectPr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts := write(t, tc.doc)
			body := parse(t, parts["word/document.xml"]).child("body")
			if got := names(body.children); strings.Join(got, " ") != strings.Join(tc.body, " ") {
				t.Errorf("body elements = %v, want %v", got, tc.body)
			}
			core := parse(t, parts["docProps/core.xml"])
			if tc.doc.Title == "" && core.childNS("http://purl.org/dc/elements/1.1/", "title") != nil {
				t.Error("dc:title written for an untitled document")
			}
			if tc.doc.Created.IsZero() && core.childNS("http://purl.org/dc/terms/", "created") != nil {
				t.Error("dcterms:created written for a zero Created")
			}
		})
	}
}

func TestWriteDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes of the same document differ")
	}
}

func TestWriteErrors(t *testing.T) {
	type custom struct{ Heading }
	tests := []struct {
		name string
		w    io.Writer
		doc  Document
		want error // nil: any error
	}{
		{"unsupported block", io.Discard, Document{Blocks: []Block{custom{}}}, nil},
		{"nil block", io.Discard, Document{Blocks: []Block{nil}}, nil},
		{"nil *Table", io.Discard, Document{Blocks: []Block{(*Table)(nil)}}, nil},
		{"writer fails at once", &failingWriter{}, sampleDocument(), errBoom},
		{"writer fails later", &failingWriter{n: 2000}, sampleDocument(), errBoom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(tc.w, tc.doc)
			if err == nil {
				t.Fatal("Write succeeded, want error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"宋体 text", "宋体 text"},
		{"a\tb\nc\rd", "a\tb\nc\rd"},             // tab, newline, CR are allowed
		{"a\x00b\x01c\x08d\x0be\x1ff", "abcdef"}, // other C0 controls are not
		{"a\uFFFEb\uFFFFc", "abc"},
		{"a\uFFFDb", "a\uFFFDb"},               // a real replacement character is valid
		{"a\xed\xa0\x80b\xed\xbf\xbfc", "abc"}, // encoded lone surrogates
		{"a\xffb\xe4\xb8", "ab"},               // invalid and truncated UTF-8
		{"\u00a0\u3000\uE000\uD7FF", "\u00a0\u3000\uE000\uD7FF"},
		{"𠀀\U0001F600\U0010FFFF", "𠀀\U0001F600\U0010FFFF"}, // supplementary planes
		{"<&>\"'", "<&>\"'"},                               // escaping is not clean's job
	}
	for _, tc := range tests {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCarriageReturns(t *testing.T) {
	parts := write(t, Document{Blocks: []Block{Paragraph{Text: "一\r\n二\r三\n四"}}})
	p := parse(t, parts["word/document.xml"]).child("body").child("p")
	if got, want := paragraphText(p), "一\n二\n三\n四"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
}

// write writes d and returns its parts after checking that every required
// part is present and well-formed, that every relationship target exists
// and that every part has a content type.
func write(t *testing.T, d Document) map[string][]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatalf("Write: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("not a zip archive: %v", err)
	}
	parts := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		if _, dup := parts[f.Name]; dup {
			t.Errorf("duplicate part %s", f.Name)
		}
		parts[f.Name] = data
	}
	for _, name := range requiredParts {
		if _, ok := parts[name]; !ok {
			t.Errorf("missing part %s", name)
		}
	}
	for name, data := range parts {
		if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`)) {
			t.Errorf("%s lacks the XML declaration", name)
		}
		parse(t, data) // fails the test if malformed
	}
	types := contentTypes(t, parts)
	for name := range parts {
		if name != "[Content_Types].xml" && types["/"+name] == "" {
			t.Errorf("part %s has no content type", name)
		}
	}
	for _, rels := range []string{"_rels/.rels", "word/_rels/document.xml.rels"} {
		base := path.Dir(path.Dir(rels))
		for _, r := range parse(t, parts[rels]).children {
			target := path.Join(base, r.attr("Target"))
			if _, ok := parts[target]; !ok {
				t.Errorf("%s: relationship %s targets missing part %s", rels, r.attr("Id"), target)
			}
		}
	}
	return parts
}

// contentTypes maps each part name ("/word/document.xml") to its content
// type, from the overrides and, for the parts present, the defaults.
func contentTypes(t *testing.T, parts map[string][]byte) map[string]string {
	t.Helper()
	types := map[string]string{}
	defaults := map[string]string{}
	for _, n := range parse(t, parts["[Content_Types].xml"]).children {
		switch n.name.Local {
		case "Default":
			defaults[n.attr("Extension")] = n.attr("ContentType")
		case "Override":
			types[n.attr("PartName")] = n.attr("ContentType")
		}
	}
	for name := range parts {
		if _, ok := types["/"+name]; !ok {
			types["/"+name] = defaults[strings.TrimPrefix(path.Ext(name), ".")]
		}
	}
	for name := range types {
		if _, ok := parts[strings.TrimPrefix(name, "/")]; !ok {
			t.Errorf("content type override for missing part %s", name)
		}
	}
	return types
}

const xmlNS = "http://www.w3.org/XML/1998/namespace"

// node is an element of a parsed XML part.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*node
	text     string // character data directly inside the element
}

// parse decodes every token of data and returns the root element.
func parse(t *testing.T, data []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("malformed XML: %v\n%s", err, data)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name, attrs: tok.Attr}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += string(tok)
		}
	}
	if len(root.children) != 1 {
		t.Fatalf("%d root elements, want 1", len(root.children))
	}
	return root.children[0]
}

// attr returns the value of the attribute with the given local name in the
// w namespace or no namespace.
func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.attrs {
		if a.Name.Local == local && (a.Name.Space == nsW || a.Name.Space == "") {
			return a.Value
		}
	}
	return ""
}

func (n *node) attrNS(space, local string) string {
	for _, a := range n.attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// child returns the first child element with the given local name.
func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

func (n *node) childNS(space, local string) *node {
	for _, c := range n.children {
		if c.name.Space == space && c.name.Local == local {
			return c
		}
	}
	return nil
}

func (n *node) childrenNamed(local string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// all returns the descendants with the given local name, in document order.
func (n *node) all(local string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name.Local == local {
			out = append(out, c)
		}
		out = append(out, c.all(local)...)
	}
	return out
}

func names(nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.name.Local)
	}
	return out
}

// paragraphText is the text of the w:t elements under n, with w:br as a
// newline and w:tab as a tab.
func paragraphText(n *node) string {
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		for _, c := range n.children {
			switch c.name.Local {
			case "t":
				b.WriteString(c.text)
			case "br":
				b.WriteByte('\n')
			case "tab":
				if c.name.Space == nsW && n.name.Local == "r" {
					b.WriteByte('\t')
				}
			default:
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

// runBold reports whether any run under n is bold.
func runBold(n *node) bool {
	for _, r := range n.all("r") {
		if r.child("rPr").child("b") != nil {
			return true
		}
	}
	return false
}

var errBoom = errors.New("boom")

// failingWriter accepts n bytes, then fails.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	k := w.n
	w.n = 0
	return k, errBoom
}
