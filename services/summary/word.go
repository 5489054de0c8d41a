package summary

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/huizong/huizong/services"
	"github.com/huizong/huizong/services/export"
	"github.com/huizong/huizong/services/summary/docx"
)

// Word writes draft d as a Word document: the title, a heading per
// category with its paragraph, and for a district or city the category's
// statistics table (统计表: its templates' measures by school or district,
// subtotals and 合计; the numbers GET /api/v1/totals answers) as a Word
// table. Principals get the text alone.
func (s *Service) Word(ctx context.Context, p services.Principal, q Query, d Draft, w io.Writer) error {
	doc := docx.Document{Title: d.Title, Author: p.User.Name}
	tables := 0
	for i, para := range d.Paragraphs {
		doc.Blocks = append(doc.Blocks, docx.Heading{Text: chineseOrdinal(i+1) + "、" + para.Heading, Level: 1},
			docx.Paragraph{Text: para.Text})
		if d.Org.Kind == services.OrgSchool || p.User.Role.Rank() < services.RoleDistrictAdmin.Rank() {
			continue
		}
		t, err := s.exports.Tabulate(ctx, p, export.StatQuery{OrgID: d.Org.ID, Period: q.Period, From: q.From, To: q.To,
			Templates: para.Templates, MeasuresOnly: true})
		if err != nil {
			return err
		}
		tables++
		doc.Blocks = append(doc.Blocks, wordTable(fmt.Sprintf("表%d %s%s统计表", tables, d.Org.Name, para.Heading), t))
	}
	if len(d.Paragraphs) == 0 {
		doc.Blocks = append(doc.Blocks, docx.Paragraph{Text: "本期间没有已审核通过的记录。"})
	}
	return docx.Write(w, doc)
}

// wordTable is statistics table t as a Word table, subtotals and the
// total in bold.
func wordTable(caption string, t export.StatTable) docx.Table {
	out := docx.Table{Caption: caption, Header: [][]string{make([]string, len(t.Columns))}}
	for i, c := range t.Columns {
		out.Header[0][i] = c.Header
	}
	for _, r := range t.Rows {
		row := make([]docx.Cell, len(r.Cells))
		for i, c := range r.Cells {
			row[i] = docx.Cell{Text: c.Text, Bold: r.Kind != "unit"}
			if c.IsNumber {
				row[i].Text, row[i].Number = number(c.Number), true
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// number writes a table figure: whole numbers plain, others with at most
// two decimals.
func number(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return fmt.Sprintf("%.0f", x)
	}
	return trim(fmt.Sprintf("%.2f", x))
}
