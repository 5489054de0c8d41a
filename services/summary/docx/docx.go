// Package docx writes simple Word documents (WordprocessingML, ECMA-376): a
// title, headings, paragraphs and tables, with Chinese text in 宋体 (SimSun)
// with an East Asian font hint so Word and WPS render it. It owns nothing but
// the file format.
package docx

import (
	"archive/zip"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Document is a Word document: a title paragraph followed by blocks.
type Document struct {
	Title   string    // the document's title paragraph (style Title) and docProps/core.xml dc:title
	Author  string    // dc:creator (optional)
	Created time.Time // dcterms:created / modified (zero: omit)
	Blocks  []Block
}

// Block is one of Heading, Paragraph, Table (or a pointer to one).
type Block interface{ block() }

// Heading is a heading paragraph. Level 1 uses style Heading1, level 2 (or
// deeper) Heading2; levels below 1 are treated as 1.
type Heading struct {
	Text  string
	Level int
}

// Paragraph is a body paragraph with a first-line indent of two characters
// (w:ind w:firstLineChars="200"). A newline in Text becomes a line break
// (w:br), a tab a tab (w:tab).
type Paragraph struct {
	Text string
}

// Table is a full-width table with single borders.
type Table struct {
	Caption string     // optional paragraph above the table (bold, centred), e.g. "表1 城区2025学年统计表"
	Header  [][]string // one or more header rows (bold, shaded, repeated on each page via w:tblHeader)
	Rows    [][]Cell
}

// Cell is one table body cell.
type Cell struct {
	Text   string
	Number bool // right-aligned
	Bold   bool // e.g. subtotal / 合计 rows
}

func (Heading) block()   {}
func (Paragraph) block() {}
func (Table) block()     {}

// Write writes d as a .docx package (a zip archive) to w and returns the
// first error. Apart from Created the output is deterministic.
func Write(w io.Writer, d Document) error {
	blocks, err := normalize(d.Blocks)
	if err != nil {
		return err
	}
	parts := []struct {
		name  string
		write func(*xmlWriter)
	}{
		{"[Content_Types].xml", constant(contentTypesXML)},
		{"_rels/.rels", constant(rootRelsXML)},
		{"docProps/app.xml", constant(appXML)},
		{"docProps/core.xml", func(x *xmlWriter) { writeCore(x, d) }},
		{"word/_rels/document.xml.rels", constant(documentRelsXML)},
		{"word/document.xml", func(x *xmlWriter) { writeDocument(x, d.Title, blocks) }},
		{"word/settings.xml", constant(settingsXML)},
		{"word/styles.xml", constant(stylesXML)},
	}
	// A fixed timestamp keeps the archive byte-for-byte reproducible.
	modified := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	zw := zip.NewWriter(w)
	for _, p := range parts {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return err
		}
		x := &xmlWriter{w: fw}
		p.write(x)
		if x.err != nil {
			return x.err
		}
	}
	return zw.Close()
}

// normalize dereferences pointer blocks and rejects anything else, so that
// nothing is written for a document that cannot be written whole.
func normalize(blocks []Block) ([]Block, error) {
	out := make([]Block, 0, len(blocks))
	for i, b := range blocks {
		switch v := b.(type) {
		case Heading, Paragraph, Table:
			out = append(out, v)
		case *Heading:
			if v != nil {
				out = append(out, *v)
				continue
			}
			return nil, fmt.Errorf("docx: block %d is a nil *Heading", i)
		case *Paragraph:
			if v != nil {
				out = append(out, *v)
				continue
			}
			return nil, fmt.Errorf("docx: block %d is a nil *Paragraph", i)
		case *Table:
			if v != nil {
				out = append(out, *v)
				continue
			}
			return nil, fmt.Errorf("docx: block %d is a nil *Table", i)
		default:
			return nil, fmt.Errorf("docx: block %d has unsupported type %T", i, b)
		}
	}
	return out, nil
}

// xmlWriter writes markup and escaped text, keeping the first error.
type xmlWriter struct {
	w   io.Writer
	err error
}

// raw writes markup as is.
func (x *xmlWriter) raw(ss ...string) {
	for _, s := range ss {
		if x.err != nil {
			return
		}
		_, x.err = io.WriteString(x.w, s)
	}
}

// text writes s as escaped character data; s must already be clean.
func (x *xmlWriter) text(s string) {
	if x.err == nil {
		x.err = xml.EscapeText(x.w, []byte(s))
	}
}

func constant(s string) func(*xmlWriter) {
	return func(x *xmlWriter) { x.raw(s) }
}

// clean drops what XML 1.0 does not allow: control characters other than
// tab, newline and carriage return, U+FFFE/U+FFFF, and invalid UTF-8
// (including encoded surrogates). A genuine U+FFFD is kept.
func clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r != utf8.RuneError || n > 1) && isXMLChar(r) {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func isXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD ||
		0x10000 <= r && r <= utf8.MaxRune
}

const (
	xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	nsW       = `http://schemas.openxmlformats.org/wordprocessingml/2006/main`
	nsR       = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`

	// textWidth is the A4 page width less both margins, in twips.
	textWidth = 11906 - 2*1440

	sectPr = `<w:sectPr>` +
		`<w:pgSz w:w="11906" w:h="16838"/>` +
		`<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" w:header="851" w:footer="992" w:gutter="0"/>` +
		`<w:cols w:space="425"/>` +
		`<w:docGrid w:linePitch="312"/>` +
		`</w:sectPr>`

	borders = `<w:top w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:left w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:bottom w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:right w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:insideH w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:insideV w:val="single" w:sz="4" w:space="0" w:color="auto"/>`

	bold = `<w:b/><w:bCs/>`
)

// writeDocument writes word/document.xml.
func writeDocument(x *xmlWriter, title string, blocks []Block) {
	x.raw(xmlHeader, `<w:document xmlns:w="`, nsW, `" xmlns:r="`, nsR, `"><w:body>`)
	// last is the kind of the last body element written: "", "p" or "tbl".
	// Adjacent tables would merge, and the body should end with a paragraph,
	// so an empty paragraph goes between tables and after a final table.
	last := ""
	if title = clean(title); title != "" {
		paragraph(x, `<w:pStyle w:val="Title"/>`, "", title)
		last = "p"
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case Heading:
			style := "Heading1"
			if b.Level >= 2 {
				style = "Heading2"
			}
			paragraph(x, `<w:pStyle w:val="`+style+`"/>`, "", b.Text)
			last = "p"
		case Paragraph:
			paragraph(x, `<w:ind w:firstLineChars="200" w:firstLine="480"/>`, "", b.Text)
			last = "p"
		case Table:
			if b.Caption != "" {
				paragraph(x, `<w:keepNext/><w:jc w:val="center"/>`, bold, b.Caption)
				last = "p"
			}
			if columns(b) == 0 {
				continue
			}
			if last == "tbl" {
				x.raw(`<w:p/>`)
			}
			table(x, b)
			last = "tbl"
		}
	}
	if last != "p" {
		x.raw(`<w:p/>`)
	}
	x.raw(sectPr, `</w:body></w:document>`)
}

// paragraph writes a w:p with the given paragraph properties and one run of
// text carrying the given run properties after the East Asian font hint.
func paragraph(x *xmlWriter, pPr, rPr, text string) {
	x.raw(`<w:p>`)
	if pPr != "" {
		x.raw(`<w:pPr>`, pPr, `</w:pPr>`)
	}
	run(x, rPr, text)
	x.raw(`</w:p>`)
}

// run writes text as a w:r, newlines as w:br and tabs as w:tab. Empty text
// writes nothing.
func run(x *xmlWriter, rPr, text string) {
	text = clean(text)
	if text == "" {
		return
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	x.raw(`<w:r><w:rPr><w:rFonts w:hint="eastAsia"/>`, rPr, `</w:rPr>`)
	start := 0
	for i, r := range text {
		if r != '\n' && r != '\t' {
			continue
		}
		textElement(x, text[start:i])
		if r == '\n' {
			x.raw(`<w:br/>`)
		} else {
			x.raw(`<w:tab/>`)
		}
		start = i + 1
	}
	textElement(x, text[start:])
	x.raw(`</w:r>`)
}

func textElement(x *xmlWriter, s string) {
	if s == "" {
		return
	}
	x.raw(`<w:t xml:space="preserve">`)
	x.text(s)
	x.raw(`</w:t>`)
}

// columns is the number of cells in the widest row of t.
func columns(t Table) int {
	n := 0
	for _, r := range t.Header {
		n = max(n, len(r))
	}
	for _, r := range t.Rows {
		n = max(n, len(r))
	}
	return n
}

// table writes t as a w:tbl; t must have at least one column.
func table(x *xmlWriter, t Table) {
	n := columns(t)
	widths := make([]string, n)
	for i := range widths {
		w := textWidth / n
		if i == n-1 {
			w = textWidth - w*(n-1)
		}
		widths[i] = strconv.Itoa(w)
	}
	x.raw(`<w:tbl><w:tblPr>`,
		`<w:tblStyle w:val="TableGrid"/>`,
		`<w:tblW w:w="5000" w:type="pct"/>`,
		`<w:jc w:val="center"/>`,
		`<w:tblBorders>`, borders, `</w:tblBorders>`,
		`<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" w:lastColumn="0" w:noHBand="0" w:noVBand="1"/>`,
		`</w:tblPr><w:tblGrid>`)
	for _, w := range widths {
		x.raw(`<w:gridCol w:w="`, w, `"/>`)
	}
	x.raw(`</w:tblGrid>`)
	for _, r := range t.Header {
		x.raw(`<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>`)
		for i, w := range widths {
			var text string
			if i < len(r) {
				text = r[i]
			}
			cell(x, w, `<w:shd w:val="clear" w:color="auto" w:fill="D9D9D9"/>`, `<w:jc w:val="center"/>`, bold, text)
		}
		x.raw(`</w:tr>`)
	}
	for _, r := range t.Rows {
		x.raw(`<w:tr><w:trPr><w:cantSplit/></w:trPr>`)
		for i, w := range widths {
			var c Cell
			if i < len(r) {
				c = r[i]
			}
			jc, rPr := "", ""
			if c.Number {
				jc = `<w:jc w:val="right"/>`
			}
			if c.Bold {
				rPr = bold
			}
			cell(x, w, "", jc, rPr, c.Text)
		}
		x.raw(`</w:tr>`)
	}
	x.raw(`</w:tbl>`)
}

// cell writes one w:tc of the given width (twips) holding one paragraph.
func cell(x *xmlWriter, width, shd, jc, rPr, text string) {
	x.raw(`<w:tc><w:tcPr><w:tcW w:w="`, width, `" w:type="dxa"/>`, shd, `<w:vAlign w:val="center"/></w:tcPr>`)
	paragraph(x, `<w:spacing w:line="240" w:lineRule="auto"/>`+jc, rPr, text)
	x.raw(`</w:tc>`)
}

// writeCore writes docProps/core.xml.
func writeCore(x *xmlWriter, d Document) {
	x.raw(xmlHeader, `<cp:coreProperties`,
		` xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"`,
		` xmlns:dc="http://purl.org/dc/elements/1.1/"`,
		` xmlns:dcterms="http://purl.org/dc/terms/"`,
		` xmlns:dcmitype="http://purl.org/dc/dcmitype/"`,
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`)
	if s := clean(d.Title); s != "" {
		x.raw(`<dc:title>`)
		x.text(s)
		x.raw(`</dc:title>`)
	}
	if s := clean(d.Author); s != "" {
		x.raw(`<dc:creator>`)
		x.text(s)
		x.raw(`</dc:creator>`)
	}
	if !d.Created.IsZero() {
		t := d.Created.UTC().Format("2006-01-02T15:04:05Z")
		x.raw(`<dcterms:created xsi:type="dcterms:W3CDTF">`, t, `</dcterms:created>`,
			`<dcterms:modified xsi:type="dcterms:W3CDTF">`, t, `</dcterms:modified>`)
	}
	x.raw(`</cp:coreProperties>`)
}

const contentTypesXML = xmlHeader +
	`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
	`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
	`<Default Extension="xml" ContentType="application/xml"/>` +
	`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>` +
	`<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>` +
	`<Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/>` +
	`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>` +
	`<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>` +
	`</Types>`

const rootRelsXML = xmlHeader +
	`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
	`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>` +
	`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>` +
	`<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>` +
	`</Relationships>`

const documentRelsXML = xmlHeader +
	`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
	`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>` +
	`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings" Target="settings.xml"/>` +
	`</Relationships>`

const appXML = xmlHeader +
	`<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"` +
	` xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">` +
	`<Application>Go docx</Application>` +
	`<DocSecurity>0</DocSecurity>` +
	`</Properties>`

const settingsXML = xmlHeader +
	`<w:settings xmlns:w="` + nsW + `">` +
	`<w:zoom w:percent="100"/>` +
	`<w:defaultTabStop w:val="420"/>` +
	`<w:characterSpacingControl w:val="compressPunctuation"/>` +
	`<w:compat><w:compatSetting w:name="compatibilityMode" w:uri="http://schemas.microsoft.com/office/word" w:val="15"/></w:compat>` +
	`<w:themeFontLang w:val="en-US" w:eastAsia="zh-CN"/>` +
	`</w:settings>`

// stylesXML: body text 宋体/Times New Roman 小四 (12pt) at 1.5 lines; title
// 黑体 小二 (18pt) bold centred; headings 黑体 三号/四号 with outline levels
// so they appear in the navigation pane; TableGrid with single borders.
const stylesXML = xmlHeader +
	`<w:styles xmlns:w="` + nsW + `" xmlns:r="` + nsR + `">` +
	`<w:docDefaults>` +
	`<w:rPrDefault><w:rPr>` +
	`<w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="宋体" w:cs="Times New Roman" w:hint="eastAsia"/>` +
	`<w:kern w:val="2"/><w:sz w:val="24"/><w:szCs w:val="24"/>` +
	`<w:lang w:val="en-US" w:eastAsia="zh-CN" w:bidi="ar-SA"/>` +
	`</w:rPr></w:rPrDefault>` +
	`<w:pPrDefault><w:pPr><w:spacing w:after="0" w:line="360" w:lineRule="auto"/></w:pPr></w:pPrDefault>` +
	`</w:docDefaults>` +

	`<w:style w:type="paragraph" w:default="1" w:styleId="Normal">` +
	`<w:name w:val="Normal"/><w:qFormat/>` +
	`<w:pPr><w:widowControl w:val="0"/><w:jc w:val="both"/></w:pPr>` +
	`</w:style>` +

	`<w:style w:type="paragraph" w:styleId="Title">` +
	`<w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:uiPriority w:val="10"/><w:qFormat/>` +
	`<w:pPr><w:spacing w:before="240" w:after="240"/><w:jc w:val="center"/></w:pPr>` +
	`<w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="黑体" w:hint="eastAsia"/><w:b/><w:bCs/><w:sz w:val="36"/><w:szCs w:val="36"/></w:rPr>` +
	`</w:style>` +

	`<w:style w:type="paragraph" w:styleId="Heading1">` +
	`<w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:uiPriority w:val="9"/><w:qFormat/>` +
	`<w:pPr><w:keepNext/><w:keepLines/><w:spacing w:before="240" w:after="120"/><w:outlineLvl w:val="0"/></w:pPr>` +
	`<w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="黑体" w:hint="eastAsia"/><w:b/><w:bCs/><w:sz w:val="32"/><w:szCs w:val="32"/></w:rPr>` +
	`</w:style>` +

	`<w:style w:type="paragraph" w:styleId="Heading2">` +
	`<w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:uiPriority w:val="9"/><w:unhideWhenUsed/><w:qFormat/>` +
	`<w:pPr><w:keepNext/><w:keepLines/><w:spacing w:before="120" w:after="120"/><w:outlineLvl w:val="1"/></w:pPr>` +
	`<w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="黑体" w:hint="eastAsia"/><w:b/><w:bCs/><w:sz w:val="28"/><w:szCs w:val="28"/></w:rPr>` +
	`</w:style>` +

	`<w:style w:type="character" w:default="1" w:styleId="DefaultParagraphFont">` +
	`<w:name w:val="Default Paragraph Font"/><w:uiPriority w:val="1"/><w:semiHidden/><w:unhideWhenUsed/>` +
	`</w:style>` +

	`<w:style w:type="table" w:default="1" w:styleId="TableNormal">` +
	`<w:name w:val="Normal Table"/><w:uiPriority w:val="99"/><w:semiHidden/><w:unhideWhenUsed/>` +
	`<w:tblPr><w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar>` +
	`<w:top w:w="0" w:type="dxa"/><w:left w:w="108" w:type="dxa"/><w:bottom w:w="0" w:type="dxa"/><w:right w:w="108" w:type="dxa"/>` +
	`</w:tblCellMar></w:tblPr>` +
	`</w:style>` +

	`<w:style w:type="table" w:styleId="TableGrid">` +
	`<w:name w:val="Table Grid"/><w:basedOn w:val="TableNormal"/><w:uiPriority w:val="59"/>` +
	`<w:pPr><w:spacing w:line="240" w:lineRule="auto"/></w:pPr>` +
	`<w:tblPr><w:tblBorders>` + borders + `</w:tblBorders></w:tblPr>` +
	`</w:style>` +
	`</w:styles>`
