// Package export writes what bureau staff take away: records as Excel or
// CSV sheets, the statistics table (统计表) and a collection task's
// progress sheet. It reads through the records, totals, indicators and
// tasks services and owns only the shaping of rows and columns; the file
// formats are the caller's (a SheetWriter).
package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/huizong/huizong/services"
)

// Service writes records out as the sheets bureau staff work with: one
// sheet per template, a column per field with its Chinese label, then
// who, where, when and the review; and the statistics table and a task's
// progress sheet. Rows come page by page from the store (never all in
// memory); the writer decides the file format.
type Service struct {
	records    *services.Records
	templates  services.TemplateStore
	orgs       services.OrgStore
	users      services.UserStore
	totals     *services.Totals
	indicators *services.Indicators
	tasks      *services.Tasks
	audit      *services.Audit
	cal        services.Calendar
}

// Deps are what the export service reads through.
type Deps struct {
	Records    *services.Records
	Templates  services.TemplateStore
	Orgs       services.OrgStore
	Users      services.UserStore
	Totals     *services.Totals
	Indicators *services.Indicators
	Tasks      *services.Tasks
	Audit      *services.Audit
	Calendar   services.Calendar
}

// New returns the export service.
func New(d Deps) *Service {
	return &Service{records: d.Records, templates: d.Templates, orgs: d.Orgs, users: d.Users, totals: d.Totals,
		indicators: d.Indicators, tasks: d.Tasks, audit: d.Audit, cal: d.Calendar}
}

// ColumnKind is how a column's cells are written.
type ColumnKind int

// The column kinds.
const (
	ColumnText ColumnKind = iota
	ColumnNumber
	ColumnDate
)

// Column is one column of a sheet.
type Column struct {
	Header string
	Kind   ColumnKind
	// Width is a sensible width in characters.
	Width int
}

// SheetCell is one value: Number when the column is numeric and the
// record has a value, else Text (a date as YYYY-MM-DD).
type SheetCell struct {
	Text     string
	Number   float64
	IsNumber bool
}

// SheetWriter receives the sheets of an export: each sheet, then its rows.
type SheetWriter interface {
	Sheet(name string, columns []Column) error
	Row(cells []SheetCell) error
}

// ExportQuery selects the records of an export: the record list's filters
// (Data, Template, OrgID, AuthorID, Statuses, From, To), or a Period.
type ExportQuery struct {
	services.RecordQuery
	Period string
}

// ExportInfo describes a finished (or started) export.
type ExportInfo struct {
	// FileName is a name for the file without extension: unit, template
	// and period (城区_应急疏散演练_2025学年).
	FileName string
	// Templates are the templates exported, in sheet order.
	Templates []services.Template
}

// exportPage is how many records one store read brings.
const exportPage = services.MaxBulkLimit

// Plan checks q for p and works out what the export holds, before any
// byte of it is written (so a bad query is a problem document, not a
// broken file).
func (s *Service) Plan(ctx context.Context, p services.Principal, q *ExportQuery) (ExportInfo, error) {
	const op = "exports.records"
	if p.User.Role.Rank() < services.RolePrincipal.Rank() {
		return ExportInfo{}, services.Fail(op, services.KindForbidden, "forbidden", nil)
	}
	var v services.Validation
	period := ""
	if q.Period != "" {
		pd, ok := s.cal.Parse(q.Period)
		switch {
		case q.From != "" || q.To != "":
			v.Add("period", "exclusive", "other", "from, to")
		case !ok:
			v.Add("period", "period")
		default:
			q.From, q.To, period = pd.From, pd.To, services.PeriodLabel(q.Period)
		}
	}
	if err := v.Err(op); err != nil {
		return ExportInfo{}, err
	}
	// The record list's own checks.
	if err := services.CheckQuery(op, q.RecordQuery); err != nil {
		return ExportInfo{}, err
	}
	orgID := q.OrgID
	if orgID == "" {
		orgID = p.User.OrgID
	}
	unit, org := "全部", services.Org{}
	if orgID != "" {
		o, err := s.orgs.Org(ctx, p.Scope(), orgID)
		if err != nil {
			return ExportInfo{}, fmt.Errorf("%s: %w", op, err)
		}
		unit, org = o.Name, o
	}
	var info ExportInfo
	if q.Template != "" {
		t, err := s.templates.Template(ctx, services.ViewOf(p), q.Template)
		if errors.Is(err, services.ErrNotFound) {
			return ExportInfo{}, services.Invalid(op, services.Field("template", "not_found"))
		}
		if err != nil {
			return ExportInfo{}, fmt.Errorf("%s: %w", op, err)
		}
		info.Templates = []services.Template{t}
	} else {
		list, err := services.VisibleTemplates(ctx, s.templates, p)
		if err != nil {
			return ExportInfo{}, fmt.Errorf("%s: %w", op, err)
		}
		info.Templates = list
	}
	// The unit's own options and fields (its bureaus' extensions) have
	// columns too.
	for i, t := range info.Templates {
		var err error
		if info.Templates[i], err = services.AsSeenBy(ctx, s.templates, t, org); err != nil {
			return ExportInfo{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	name := "全部记录"
	if len(info.Templates) == 1 {
		name = info.Templates[0].Name
	}
	if period == "" {
		switch {
		case q.From != "" && q.To != "":
			period = q.From + "至" + q.To
		case q.From != "":
			period = q.From + "起"
		case q.To != "":
			period = "至" + q.To
		}
	}
	parts := []string{unit, name}
	if period != "" {
		parts = append(parts, period)
	}
	info.FileName = strings.Join(parts, "_")
	return info, nil
}

// exportStatus is a status as bureau staff read it.
var exportStatus = map[services.RecordStatus]string{
	services.StatusDraft: "草稿", services.StatusSubmitted: "待审核", services.StatusApproved: "已通过",
	services.StatusReturned: "已退回", services.StatusWithdrawn: "已撤回",
}

// standardColumns follow a template's fields in every sheet.
var standardColumns = []Column{
	{Header: "学校/单位", Width: 24}, {Header: "学校标识码", Width: 12}, {Header: "区县", Width: 12},
	{Header: "填报人", Width: 10}, {Header: "发生日期", Kind: ColumnDate, Width: 12}, {Header: "状态", Width: 8},
	{Header: "审核人", Width: 10}, {Header: "审核通过时间", Width: 20}, {Header: "记录编号", Width: 28}, {Header: "照片及附件", Width: 40},
}

// Write streams the records info plans into w, sheet by sheet, and
// records the export in the audit log. A cancelled ctx (the client hung
// up) stops it between pages.
func (s *Service) Write(ctx context.Context, p services.Principal, q ExportQuery, info ExportInfo, w SheetWriter) (int, error) {
	names := newNameCache(s, p)
	total := 0
	for _, t := range info.Templates {
		fields := exportFields(t)
		cols := make([]Column, 0, len(fields)+len(standardColumns))
		for _, f := range fields {
			cols = append(cols, fieldColumn(f))
		}
		// What earlier versions asked and this one no longer does: the
		// records written then keep those values, under the old label.
		retired, err := s.retiredFields(ctx, t)
		if err != nil {
			return total, fmt.Errorf("exports.records: %w", err)
		}
		for _, f := range retired {
			c := fieldColumn(f)
			c.Header += "（已停用）"
			cols = append(cols, c)
		}
		fields = append(fields, retired...)
		cols = append(cols, standardColumns...)
		rq := q.RecordQuery
		rq.Template = t.Key
		started := false
		err = s.records.Each(ctx, p, rq, exportPage, func(r services.Record) error {
			if !started {
				if err := w.Sheet(t.Name, cols); err != nil {
					return err
				}
				started = true
			}
			cells, err := s.row(ctx, names, fields, r)
			if err != nil {
				return err
			}
			total++
			return w.Row(cells)
		})
		if err != nil {
			// Rows left before it stopped (a client that hung up has
			// what was sent): audited too.
			s.audited(context.WithoutCancel(ctx), p, "/api/v1/exports/records", info.FileName,
				fmt.Sprintf("%d rows, stopped: %v", total, err))
			return total, fmt.Errorf("exports.records: %w", err)
		}
	}
	s.audited(ctx, p, "/api/v1/exports/records", info.FileName, fmt.Sprintf("%d rows", total))
	return total, nil
}

// audited records an export in the audit log: who, which endpoint and
// file, how many rows.
func (s *Service) audited(ctx context.Context, p services.Principal, endpoint, file, detail string) {
	s.audit.Record(ctx, services.AuditEvent{Kind: services.AuditExport, ActorID: p.User.ID, ActorName: p.User.Username,
		SubjectType: "export", SubjectID: endpoint, SubjectName: file, OrgPath: p.User.OrgPath, Detail: detail})
}

// exportFields are the fields of t that get a column (all but
// attachments, which the standard columns link).
func exportFields(t services.Template) []services.TemplateField {
	var out []services.TemplateField
	for _, f := range t.Fields {
		if f.Type != services.FieldAttachments {
			out = append(out, f)
		}
	}
	return out
}

// retiredFields are the fields of t's earlier versions that t no longer
// has, each as its latest version defined it, in the order they first
// appeared.
func (s *Service) retiredFields(ctx context.Context, t services.Template) ([]services.TemplateField, error) {
	var out []services.TemplateField
	seen := map[string]int{}
	for _, f := range t.Fields {
		seen[f.Key] = -1
	}
	for v := int64(1); v < t.Version; v++ {
		old, err := s.templates.TemplateVersion(ctx, t.Key, v)
		if errors.Is(err, services.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range exportFields(old) {
			switch i, ok := seen[f.Key]; {
			case !ok:
				seen[f.Key] = len(out)
				out = append(out, f)
			case i >= 0:
				out[i] = f
			}
		}
	}
	return out, nil
}

// fieldColumn is the column of a field: its label with the unit
// (参与学生人次, 投资(万元)).
func fieldColumn(f services.TemplateField) Column {
	h := f.Label
	if f.Unit != "" && !strings.Contains(h, f.Unit) {
		h += "(" + f.Unit + ")"
	}
	c := Column{Header: h, Width: max(8, min(40, 2*len([]rune(h))+2))}
	switch f.Type {
	case services.FieldInteger, services.FieldNumber:
		c.Kind = ColumnNumber
	case services.FieldDate:
		c.Kind, c.Width = ColumnDate, 12
	case services.FieldText:
		c.Width = 30
	}
	return c
}

// row is the cells of r.
func (s *Service) row(ctx context.Context, names *nameCache, fields []services.TemplateField, r services.Record) ([]SheetCell, error) {
	data, err := services.DecodeRecordData(r.Data)
	if err != nil {
		data = map[string]any{}
	}
	cells := make([]SheetCell, 0, len(fields)+len(standardColumns))
	for _, f := range fields {
		c, err := s.fieldCell(ctx, names, f, data[f.Key])
		if err != nil {
			return nil, err
		}
		cells = append(cells, c)
	}
	org, err := names.org(ctx, r.OrgID)
	if err != nil {
		return nil, err
	}
	district := ""
	if len(r.OrgPath) >= 2 && r.OrgPath[1] != r.OrgID {
		d, err := names.org(ctx, r.OrgPath[1])
		if err != nil {
			return nil, err
		}
		district = d.Name
	}
	author, err := names.user(ctx, r.AuthorID)
	if err != nil {
		return nil, err
	}
	reviewer, approvedAt := "", ""
	if r.Review.By != "" {
		if reviewer, err = names.user(ctx, r.Review.By); err != nil {
			return nil, err
		}
	}
	if r.Status == services.StatusApproved && !r.Review.At.IsZero() {
		approvedAt = r.Review.At.In(names.loc()).Format("2006-01-02 15:04")
	}
	var links []string
	for _, id := range r.Attachments {
		links = append(links, "/api/v1/attachments/"+id+"/content")
	}
	for _, x := range []string{org.Name, org.Code, district, author, r.OccurredOn, exportStatus[r.Status], reviewer, approvedAt,
		r.ID, strings.Join(links, " ")} {
		cells = append(cells, SheetCell{Text: x})
	}
	return cells, nil
}

// fieldCell is a field's value as bureau staff read it: numbers as
// numbers, options as their labels (several joined by 、), 是/否, people
// by name.
func (s *Service) fieldCell(ctx context.Context, names *nameCache, f services.TemplateField, v any) (SheetCell, error) {
	label := func(val string) string {
		for _, o := range f.Options {
			if o.Value == val && o.Label != "" {
				return o.Label
			}
		}
		return val
	}
	switch x := v.(type) {
	case nil:
		return SheetCell{}, nil
	case float64:
		return SheetCell{Number: x, IsNumber: true}, nil
	case bool:
		if x {
			return SheetCell{Text: "是"}, nil
		}
		return SheetCell{Text: "否"}, nil
	case string:
		if f.Type == services.FieldEnum {
			return SheetCell{Text: label(x)}, nil
		}
		return SheetCell{Text: x}, nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			sv, _ := e.(string)
			switch f.Type {
			case services.FieldPeople:
				n, err := names.user(ctx, sv)
				if err != nil {
					return SheetCell{}, err
				}
				parts = append(parts, n)
			case services.FieldMultiEnum:
				parts = append(parts, label(sv))
			default:
				parts = append(parts, sv)
			}
		}
		return SheetCell{Text: strings.Join(parts, "、")}, nil
	}
	return SheetCell{Text: fmt.Sprint(v)}, nil
}

// nameCache looks up each unit and user once per export, inside the
// caller's scope (a name outside it is left out).
type nameCache struct {
	s     *Service
	p     services.Principal
	orgs  map[string]services.Org
	users map[string]string
}

func newNameCache(s *Service, p services.Principal) *nameCache {
	return &nameCache{s: s, p: p, orgs: map[string]services.Org{}, users: map[string]string{}}
}

func (c *nameCache) loc() *time.Location { return c.s.records.Location() }

func (c *nameCache) org(ctx context.Context, id string) (services.Org, error) {
	if o, ok := c.orgs[id]; ok {
		return o, nil
	}
	o, err := c.s.orgs.Org(ctx, c.p.Scope(), id)
	if err != nil && !errors.Is(err, services.ErrNotFound) {
		return services.Org{}, err
	}
	c.orgs[id] = o
	return o, nil
}

func (c *nameCache) user(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if n, ok := c.users[id]; ok {
		return n, nil
	}
	if len(c.users) > 100_000 {
		clear(c.users) // bounded, whatever the export's size
	}
	names, err := c.s.records.UserNames(ctx, c.p, id)
	if err != nil {
		return "", err
	}
	c.users[id] = names[id]
	return names[id], nil
}

// SheetName makes a sheet name Excel accepts: at most 31 characters,
// none of []:*?/\, unique among names.
func SheetName(name string, taken []string) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "" {
		name = "Sheet"
	}
	r := []rune(name)
	if len(r) > 31 {
		r = r[:31]
	}
	out := string(r)
	for i := 2; slices.Contains(taken, out); i++ {
		suffix := fmt.Sprintf("(%d)", i)
		base := []rune(string(r))
		if len(base)+len(suffix) > 31 {
			base = base[:31-len(suffix)]
		}
		out = string(base) + suffix
	}
	return out
}
