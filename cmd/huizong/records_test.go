package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// uuid returns a random version 4 UUID, as a phone makes one.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type recordBody struct {
	ID              string         `json:"id"`
	ClientID        string         `json:"client_id"`
	Template        string         `json:"template"`
	TemplateVersion int64          `json:"template_version"`
	OrgID           string         `json:"org_id"`
	AuthorID        string         `json:"author_id"`
	Status          string         `json:"status"`
	Title           string         `json:"title"`
	OccurredOn      string         `json:"occurred_on"`
	Data            map[string]any `json:"data"`
	Attachments     []string       `json:"attachments"`
	Warnings        []struct {
		Field   string  `json:"field"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Limit   float64 `json:"limit"`
	} `json:"warnings"`
	Review *struct {
		By      string `json:"by"`
		Action  string `json:"action"`
		Comment string `json:"comment"`
	} `json:"review"`
	Deleted bool  `json:"deleted"`
	Version int64 `json:"version"`
}

type recordList struct {
	Items      []recordBody `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

// drill is a valid safety drill record.
func drill(clientID string, students int) map[string]any {
	return map[string]any{
		"client_id": clientID, "template": "safety_drill", "occurred_on": "2025-10-09",
		"title": "秋季消防疏散演练", "description": "全校师生参加",
		"data": map[string]any{"kind": "消防", "students": students, "staff": 80},
	}
}

func (s *testServer) createRecord(token string, body map[string]any) recordBody {
	s.t.Helper()
	var r recordBody
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: token, body: body}).decode(s.t, &r)
	return r
}

func ifMatchV(v int64) map[string]string {
	return map[string]string{"If-Match": fmt.Sprintf(`"v%d"`, v)}
}

func (s *testServer) listRecords(token, query string) recordList {
	s.t.Helper()
	var l recordList
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records?" + query, token: token}).decode(s.t, &l)
	return l
}

func TestBuiltinTemplates(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	var list struct {
		Items []struct {
			Key     string `json:"key"`
			Builtin bool   `json:"builtin"`
			Active  bool   `json:"active"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	resp := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates?limit=100", token: teacher})
	resp.decode(t, &list)
	var keys []string
	for _, it := range list.Items {
		if !it.Builtin || !it.Active {
			t.Errorf("%s: builtin %v active %v", it.Key, it.Builtin, it.Active)
		}
		keys = append(keys, it.Key)
	}
	for _, want := range []string{"teacher_training", "honor_award", "safety_drill", "safety_inspection", "outreach",
		"teaching_research", "student_aid", "construction", "arts_sports_science", "themed_education", "home_school", "petition"} {
		if !slices.Contains(keys, want) {
			t.Errorf("catalogue lacks %s; have %v", want, keys)
		}
	}
	if !slices.IsSorted(keys) {
		t.Errorf("list not in key order: %v", keys)
	}
	// Phones cache the list and each template.
	tag := resp.header.Get("ETag")
	if tag == "" {
		t.Fatal("list has no ETag")
	}
	s.must(http.StatusNotModified, req{method: "GET", path: "/api/v1/templates?limit=100", token: teacher, header: map[string]string{"If-None-Match": tag}})
	one := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/safety_drill", token: teacher})
	var tmpl struct {
		Key    string `json:"key"`
		Fields []struct {
			Key, Type, Role string
		} `json:"fields"`
	}
	one.decode(t, &tmpl)
	roles := map[string]string{}
	for _, f := range tmpl.Fields {
		roles[f.Key] = f.Role
	}
	if roles["kind"] != "dimension" || roles["students"] != "measure" {
		t.Errorf("safety_drill roles %v", roles)
	}
	s.must(http.StatusNotModified, req{method: "GET", path: "/api/v1/templates/safety_drill", token: teacher,
		header: map[string]string{"If-None-Match": one.header.Get("ETag")}})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/templates/nope", token: teacher})

	// A restart installs nothing twice and keeps the sysadmin's change
	// (only the sysadmin changes the built-ins every city shares).
	admin := w.admin
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/templates/petition", token: admin, header: ifMatchV(1),
		body: map[string]any{"active": false}})
	s.restart()
	w.tokens["teacherA1"] = s.login("teachera1", userPassword).AccessToken
	var pet struct {
		Active  bool  `json:"active"`
		Version int64 `json:"version"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/petition", token: w.tokens["teacherA1"]}).decode(t, &pet)
	if pet.Active || pet.Version != 2 {
		t.Errorf("after restart petition active=%v version=%d, want false 2", pet.Active, pet.Version)
	}
}

// sportsDay is a district template definition.
func sportsDay(key string) map[string]any {
	return map[string]any{
		"key": key, "name": "校运会", "name_en": "Sports day", "category": "activities", "levels": []string{"school"},
		"fields": []map[string]any{
			{"key": "events", "label": "项目数", "type": "integer", "role": "measure", "min": 0, "required": true, "unit": "个"},
			{"key": "kind", "label": "类型", "type": "enum", "role": "dimension",
				"options": []map[string]any{{"value": "田径", "label": "田径"}, {"value": "球类", "label": "球类"}}},
			{"key": "note", "label": "备注", "type": "text", "max_length": 20},
		},
	}
}

func TestTemplateLifecycle(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	adminA := w.tokens["adminA"]
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: adminA, body: sportsDay("sports_day")})
	s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/templates", token: w.tokens["principalA1"], body: sportsDay("x")})
	p := s.do(req{method: "POST", path: "/api/v1/templates", token: adminA, body: sportsDay("sports_day")}).problem(t)
	if p.Status != 422 || !p.hasField("key") {
		t.Errorf("duplicate key: %+v", p)
	}

	// The district's schools see it; the other district does not.
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/sports_day", token: w.tokens["teacherA1"]})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/templates/sports_day", token: w.tokens["teacherB1"]})
	s.must(http.StatusNotFound, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: w.tokens["adminB"],
		header: ifMatchV(1), body: map[string]any{"name": "x"}})
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherA1"], body: map[string]any{
		"client_id": uuid(), "template": "sports_day", "occurred_on": "2025-10-09", "title": "秋季运动会", "data": map[string]any{"events": 12, "kind": "田径"}}})
	bp := s.do(req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherB1"], body: map[string]any{
		"client_id": uuid(), "template": "sports_day", "occurred_on": "2025-10-09", "title": "x", "data": map[string]any{"events": 1}}}).problem(t)
	if !bp.hasField("template") {
		t.Errorf("other district's template: %+v", bp)
	}

	// A city template reaches every district below it.
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates", token: w.tokens["cityadmin"], body: sportsDay("city_games")})
	for _, who := range []string{"teacherA1", "teacherB1", "adminB"} {
		s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/city_games", token: w.tokens[who]})
	}
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: w.tokens["teacherB1"], body: map[string]any{
		"client_id": uuid(), "template": "city_games", "occurred_on": "2025-10-09", "title": "市运会", "data": map[string]any{"events": 2}}})
	// A district admin may not change the city's template.
	s.must(http.StatusForbidden, req{method: "PATCH", path: "/api/v1/templates/city_games", token: adminA, header: ifMatchV(1), body: map[string]any{"name": "x"}})

	// Definitions are checked field by field.
	bad := func(mut func(m map[string]any)) map[string]any {
		m := sportsDay("bad_one")
		mut(m)
		return m
	}
	fields := func(m map[string]any) []map[string]any { return m["fields"].([]map[string]any) }
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"duplicate field key", bad(func(m map[string]any) { fields(m)[2]["key"] = "events" }), "fields[2].key"},
		{"min above max", bad(func(m map[string]any) { fields(m)[0]["max"] = -1 }), "fields[0].min"},
		{"enum without options", bad(func(m map[string]any) { fields(m)[1]["options"] = []any{} }), "fields[1].options"},
		{"measure not numeric", bad(func(m map[string]any) { fields(m)[2]["role"] = "measure" }), "fields[2].role"},
		{"dollar key", bad(func(m map[string]any) { fields(m)[2]["key"] = "$where" }), "fields[2].key"},
		{"dotted key", bad(func(m map[string]any) { fields(m)[2]["key"] = "a.b" }), "fields[2].key"},
		{"bad template key", bad(func(m map[string]any) { m["key"] = "Bad Key" }), "key"},
		{"unknown type", bad(func(m map[string]any) { fields(m)[2]["type"] = "blob" }), "fields[2].type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := s.do(req{method: "POST", path: "/api/v1/templates", token: adminA, body: tc.body}).problem(t)
			if p.Status != http.StatusUnprocessableEntity || !p.hasField(tc.field) {
				t.Errorf("got %d %+v, want 422 naming %s", p.Status, p.Errors, tc.field)
			}
			for _, e := range p.Errors {
				if e.Message == "无效" || strings.Contains(e.Message, "{") {
					t.Errorf("%s: message %q not written out", e.Code, e.Message)
				}
			}
		})
	}

	// A teacher's v1 record stays valid after v2 drops a field and an option.
	teacher := w.tokens["teacherA1"]
	v1rec := s.createRecord(teacher, map[string]any{"client_id": uuid(), "template": "sports_day", "occurred_on": "2025-10-10",
		"title": "篮球赛", "data": map[string]any{"events": 3, "kind": "球类", "note": "初赛"}})
	s.must(http.StatusPreconditionRequired, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, body: map[string]any{"name": "x"}})
	v2 := map[string]any{"fields": []map[string]any{
		{"key": "events", "label": "项目数", "type": "integer", "role": "measure", "min": 0, "required": true},
		{"key": "kind", "label": "类型", "type": "enum", "role": "dimension", "options": []map[string]any{{"value": "田径", "label": "田径"}}},
	}}
	var tv struct {
		Version int64 `json:"version"`
	}
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(1), body: v2}).decode(t, &tv)
	if tv.Version != 2 {
		t.Fatalf("version after change %d, want 2", tv.Version)
	}
	s.must(http.StatusPreconditionFailed, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(1), body: v2})
	typeChange := map[string]any{"fields": []map[string]any{{"key": "events", "label": "项目数", "type": "text"}}}
	if p := s.do(req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(2), body: typeChange}).problem(t); !p.hasField("fields[0].type") {
		t.Errorf("type change: %+v", p)
	}

	// v2 dropped "note" (text); it cannot come back as a number.
	noteAsNumber := map[string]any{"fields": []map[string]any{
		{"key": "events", "label": "项目数", "type": "integer", "role": "measure", "min": 0, "required": true},
		{"key": "note", "label": "备注", "type": "integer"},
	}}
	if p := s.do(req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(2), body: noteAsNumber}).problem(t); !p.hasField("fields[1].type") {
		t.Errorf("removed field back with another type: %+v", p)
	}

	var got recordBody
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records/" + v1rec.ID, token: teacher}).decode(t, &got)
	if got.TemplateVersion != 1 || got.Data["note"] != "初赛" || got.Data["kind"] != "球类" {
		t.Errorf("v1 record after v2: %+v", got)
	}
	// Editing it still validates against v1.
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/records/" + v1rec.ID, token: teacher, header: ifMatchV(got.Version),
		body: map[string]any{"data": map[string]any{"note": "决赛"}}})
	// New records use v2, where the option and the field are gone.
	p = s.do(req{method: "POST", path: "/api/v1/records", token: teacher, body: map[string]any{"client_id": uuid(), "template": "sports_day",
		"occurred_on": "2025-10-10", "title": "x", "data": map[string]any{"events": 3, "kind": "球类", "note": "y"}}}).problem(t)
	if !p.hasField("data.kind") || !p.hasField("data.note") {
		t.Errorf("v2 record with removed option and field: %+v", p.Errors)
	}
	var old struct {
		Version int64 `json:"version"`
		Fields  []any `json:"fields"`
	}
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/sports_day/versions/1", token: teacher}).decode(t, &old)
	if old.Version != 1 || len(old.Fields) != 3 {
		t.Errorf("version 1: %+v", old)
	}

	// Deactivated templates take no new records; copies start from the catalogue.
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/templates/sports_day", token: adminA, header: ifMatchV(2), body: map[string]any{"active": false}})
	p = s.do(req{method: "POST", path: "/api/v1/records", token: teacher, body: map[string]any{"client_id": uuid(), "template": "sports_day",
		"occurred_on": "2025-10-10", "title": "x", "data": map[string]any{"events": 3}}}).problem(t)
	if !p.hasField("template") {
		t.Errorf("inactive template: %+v", p.Errors)
	}
	s.must(http.StatusForbidden, req{method: "PATCH", path: "/api/v1/templates/safety_drill", token: adminA, header: ifMatchV(1), body: map[string]any{"active": false}})
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/templates/safety_drill/copy", token: adminA,
		body: map[string]any{"key": "safety_drill_chenghua", "name": "成华区应急演练"}})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/templates/safety_drill_chenghua", token: teacher})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/templates/safety_drill_chenghua", token: w.tokens["teacherB1"]})
}

func TestRecordCreateRetries(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	body := drill(uuid(), 500)
	first := s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: teacher, body: body})
	var r recordBody
	first.decode(t, &r)
	if r.Status != "submitted" || r.TemplateVersion != 1 || r.OrgID != w.schoolA1 || r.AuthorID != w.users["teacherA1"] {
		t.Errorf("created %+v", r)
	}
	if first.header.Get("ETag") != `"v1"` || first.header.Get("Location") != "/api/v1/records/"+r.ID {
		t.Errorf("headers %v", first.header)
	}
	var again recordBody
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records", token: teacher, body: body}).decode(t, &again)
	if again.ID != r.ID {
		t.Errorf("retry made %s, want %s", again.ID, r.ID)
	}
	other := drill(body["client_id"].(string), 501)
	if p := s.do(req{method: "POST", path: "/api/v1/records", token: teacher, body: other}).problem(t); p.Status != 409 || p.Code != "client_id_reused" {
		t.Errorf("same client_id, other content: %+v", p)
	}

	// Eight phones' worth of retries at once create one record.
	body = drill(uuid(), 300)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	statuses := make([]int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := s.do(req{method: "POST", path: "/api/v1/records", token: teacher, body: body})
			statuses[i] = resp.status
			var rb recordBody
			resp.decode(t, &rb)
			ids[i] = rb.ID
		}()
	}
	wg.Wait()
	created := 0
	for i, st := range statuses {
		switch st {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("concurrent retry %d: status %d", i, st)
		}
		if ids[i] != ids[0] {
			t.Errorf("concurrent retries got ids %v", ids)
		}
	}
	if created != 1 {
		t.Errorf("%d of 8 concurrent retries created, want 1", created)
	}

	// Idempotency-Key replays too, and without a client_id.
	key := map[string]string{"Idempotency-Key": uuid()}
	noClient := drill("", 10)
	delete(noClient, "client_id")
	var k1, k2 recordBody
	s.must(http.StatusCreated, req{method: "POST", path: "/api/v1/records", token: teacher, body: noClient, header: key}).decode(t, &k1)
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records", token: teacher, body: noClient, header: key}).decode(t, &k2)
	if k1.ID != k2.ID || k1.ClientID == "" {
		t.Errorf("Idempotency-Key retry: %s vs %s (client id %q)", k1.ID, k2.ID, k1.ClientID)
	}
	if n := len(s.listRecords(teacher, "limit=100").Items); n != 3 {
		t.Errorf("teacher has %d records, want 3", n)
	}
}

func TestRecordBatch(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	good1, good2 := drill(uuid(), 100), drill(uuid(), 200)
	badData := drill(uuid(), 100)
	badData["data"] = map[string]any{"kind": "火灾", "students": -1}
	malformed := map[string]any{"client_id": uuid(), "template": "safety_drill", "title": 42}
	noClient := drill("", 1)
	batch := map[string]any{"records": []any{good1, badData, malformed, good2, noClient}}
	type result struct {
		ClientID string `json:"client_id"`
		Status   string `json:"status"`
		ID       string `json:"id"`
		Errors   []struct {
			Field, Code, Message string
		} `json:"errors"`
	}
	var out struct {
		Results []result `json:"results"`
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records:batch", token: teacher, body: batch}).decode(t, &out)
	want := []string{"created", "invalid", "invalid", "created", "invalid"}
	if len(out.Results) != len(want) {
		t.Fatalf("results %+v", out.Results)
	}
	for i, r := range out.Results {
		if r.Status != want[i] {
			t.Errorf("item %d: %s, want %s (%+v)", i, r.Status, want[i], r.Errors)
		}
	}
	if out.Results[0].ClientID != good1["client_id"] || out.Results[0].ID == "" {
		t.Errorf("item 0 %+v", out.Results[0])
	}
	fieldsOf := func(r result) []string {
		var fs []string
		for _, e := range r.Errors {
			fs = append(fs, e.Field)
			if e.Message == "" {
				t.Errorf("error %+v has no message", e)
			}
		}
		return fs
	}
	if fs := fieldsOf(out.Results[1]); !slices.Contains(fs, "data.kind") || !slices.Contains(fs, "data.students") {
		t.Errorf("bad data errors %v", fs)
	}
	if fs := fieldsOf(out.Results[2]); !slices.Contains(fs, "title") {
		t.Errorf("malformed item errors %v", fs)
	}

	// Retrying the batch, eight times at once, creates nothing more.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var again struct {
				Results []result `json:"results"`
			}
			resp := s.do(req{method: "POST", path: "/api/v1/records:batch", token: teacher, body: batch})
			if resp.status != http.StatusOK {
				t.Errorf("retry: %d %s", resp.status, resp.body)
				return
			}
			resp.decode(t, &again)
			if again.Results[0].Status != "duplicate" || again.Results[0].ID != out.Results[0].ID || again.Results[3].Status != "duplicate" {
				t.Errorf("retry results %+v", again.Results)
			}
		}()
	}
	wg.Wait()
	if n := len(s.listRecords(teacher, "limit=100").Items); n != 2 {
		t.Errorf("%d records after retries, want 2", n)
	}

	// A full batch is stored concurrently: every result in its place,
	// and a client id the batch repeats is created once, first.
	full := make([]any, 100)
	for i := range full {
		full[i] = drill(uuid(), 1+i)
	}
	full[99] = full[10]
	var fullOut struct {
		Results []result `json:"results"`
	}
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records:batch", token: teacher, body: map[string]any{"records": full}}).decode(t, &fullOut)
	for i, r := range fullOut.Results {
		want := "created"
		if i == 99 {
			want = "duplicate"
		}
		if r.Status != want || r.ClientID != full[i].(map[string]any)["client_id"] || r.ID == "" {
			t.Errorf("full batch item %d: %+v, want %s", i, r, want)
		}
	}
	if fullOut.Results[99].ID != fullOut.Results[10].ID {
		t.Errorf("a repeated client id got records %s and %s", fullOut.Results[10].ID, fullOut.Results[99].ID)
	}
	if n := len(s.listRecords(teacher, "limit=100").Items); n != 100 {
		t.Errorf("%d records after the full batch, want 2+99 capped at a page of 100", n)
	}

	many := make([]any, 101)
	for i := range many {
		many[i] = drill(uuid(), 1)
	}
	if p := s.do(req{method: "POST", path: "/api/v1/records:batch", token: teacher, body: map[string]any{"records": many}}).problem(t); !p.hasField("records") {
		t.Errorf("101 records: %+v", p)
	}
}

func TestRecordValidation(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	with := func(mut func(m map[string]any)) map[string]any {
		m := drill(uuid(), 10)
		mut(m)
		return m
	}
	data := func(kv ...any) func(m map[string]any) {
		return func(m map[string]any) {
			d := m["data"].(map[string]any)
			for i := 0; i+1 < len(kv); i += 2 {
				d[kv[i].(string)] = kv[i+1]
			}
		}
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"unknown data field", with(data("colour", "red")), 422, "data.colour"},
		{"wrong type", with(data("students", "many")), 422, "data.students"},
		{"not an integer", with(data("students", 1.5)), 422, "data.students"},
		{"below min", with(data("students", -3)), 422, "data.students"},
		{"not an option", with(data("kind", "火灾")), 422, "data.kind"},
		{"future date", with(func(m map[string]any) { m["occurred_on"] = "2099-01-01" }), 422, "occurred_on"},
		{"before 2000", with(func(m map[string]any) { m["occurred_on"] = "1999-12-31" }), 422, "occurred_on"},
		{"not a date", with(func(m map[string]any) { m["occurred_on"] = "2025-02-30" }), 422, "occurred_on"},
		{"end before start", with(func(m map[string]any) { m["end_on"] = "2025-10-01" }), 422, "end_on"},
		{"title too long", with(func(m map[string]any) { m["title"] = strings.Repeat("演", 201) }), 422, "title"},
		{"title missing", with(func(m map[string]any) { m["title"] = "   " }), 422, "title"},
		{"unknown template", with(func(m map[string]any) { m["template"] = "nope" }), 422, "template"},
		{"bad client id", with(func(m map[string]any) { m["client_id"] = "not-a-uuid" }), 422, "client_id"},
		{"status approved", with(func(m map[string]any) { m["status"] = "approved" }), 422, "status"},
		{"mass assignment author", with(func(m map[string]any) { m["author_id"] = w.users["teacherA1b"] }), 422, "author_id"},
		{"mass assignment version", with(func(m map[string]any) { m["template_version"] = 9 }), 422, "template_version"},
		{"other school", with(func(m map[string]any) { m["org_id"] = w.schoolA2 }), 422, "org_id"},
		{"dollar key", with(data("$where", "1")), 400, "data.$where"},
		{"dotted key", with(data("a.b", "1")), 400, "data.a.b"},
		{"operator object", with(data("students", map[string]any{"$gt": 0})), 400, "data.$gt"},
		{"nosql title", with(func(m map[string]any) { m["title"] = map[string]any{"$ne": nil} }), 400, "title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := s.do(req{method: "POST", path: "/api/v1/records", token: teacher, body: tc.body}).problem(t)
			if p.Status != tc.status || (tc.field != "" && !p.hasField(tc.field)) {
				t.Errorf("got %d %+v, want %d naming %q", p.Status, p.Errors, tc.status, tc.field)
			}
			for _, e := range p.Errors {
				if e.Message == "" || e.Message == "无效" || strings.Contains(e.Message, "{") ||
					!strings.ContainsFunc(e.Message, func(r rune) bool { return r > 0x2e80 }) {
					t.Errorf("message %q for %s is not a filled-in Chinese message", e.Message, e.Field)
				}
			}
		})
	}
	deep := strings.Repeat(`{"a":`, 101) + "1" + strings.Repeat("}", 101)
	resp := s.do(req{method: "POST", path: "/api/v1/records", token: teacher,
		body: `{"client_id":"` + uuid() + `","template":"safety_drill","occurred_on":"2025-10-09","title":"x","data":{"kind":"消防","problems":` + deep + `}}`})
	if resp.status >= 500 || resp.status < 400 {
		t.Errorf("depth 101: status %d", resp.status)
	}

	// Text is trimmed and NFC-normalised; plausibility findings are
	// warnings, not errors.
	s.must(http.StatusOK, req{method: "PATCH", path: "/api/v1/orgs/" + w.schoolA1, token: w.admin, header: ifMatchV(1),
		body: map[string]any{"students": 300, "staff": 40}})
	r := s.createRecord(teacher, with(func(m map[string]any) {
		m["title"] = "  Cafe\u0301 演练  "
		m["data"].(map[string]any)["students"] = 900
	}))
	if r.Title != "Caf\u00e9 演练" {
		t.Errorf("title %q not trimmed and NFC", r.Title)
	}
	if len(r.Warnings) != 2 || r.Warnings[0].Field != "data.students" || r.Warnings[0].Limit != 300 || r.Warnings[0].Message == "" {
		t.Errorf("warnings %+v, want students above 300 and staff above 40", r.Warnings)
	}
}

func TestRecordScope(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	mine := s.createRecord(w.tokens["teacherA1"], drill(uuid(), 10))
	path := "/api/v1/records/" + mine.ID
	// Another teacher, another school's principal, another district's admin: 404, and nothing changes.
	for _, who := range []string{"teacherA1b", "teacherB1", "principalA2", "principalB1", "adminB"} {
		tok := w.tokens[who]
		for _, r := range []req{
			{method: "GET", path: path, token: tok},
			{method: "PATCH", path: path, token: tok, header: ifMatchV(1), body: map[string]any{"title": "hacked"}},
			{method: "DELETE", path: path, token: tok, header: ifMatchV(1)},
			{method: "GET", path: path + "/history", token: tok},
			{method: "POST", path: path + "/submit", token: tok, header: ifMatchV(1)},
		} {
			if resp := s.do(r); resp.status != http.StatusNotFound {
				t.Errorf("%s %s %s: %d, want 404", who, r.method, r.path, resp.status)
			}
		}
		for _, action := range []string{"approve", "return", "reopen"} {
			resp := s.do(req{method: "POST", path: path + "/" + action, token: tok, header: ifMatchV(1), body: map[string]any{"comment": "x", "reason": "x"}})
			if resp.status != http.StatusNotFound && resp.status != http.StatusForbidden {
				t.Errorf("%s %s: %d", who, action, resp.status)
			}
		}
		if l := s.listRecords(tok, "limit=100"); len(l.Items) != 0 {
			t.Errorf("%s lists %d records", who, len(l.Items))
		}
	}
	var got recordBody
	s.must(http.StatusOK, req{method: "GET", path: path, token: w.tokens["teacherA1"]}).decode(t, &got)
	if got.Title != mine.Title || got.Version != 1 {
		t.Errorf("record changed: %+v", got)
	}
	// The principal and the district see it but may not edit someone else's record.
	for _, who := range []string{"principalA1", "adminA", "cityadmin"} {
		s.must(http.StatusOK, req{method: "GET", path: path, token: w.tokens[who]})
		if n := len(s.listRecords(w.tokens[who], "").Items); n != 1 {
			t.Errorf("%s lists %d, want 1", who, n)
		}
	}
	s.must(http.StatusForbidden, req{method: "PATCH", path: path, token: w.tokens["principalA1"], header: ifMatchV(1), body: map[string]any{"title": "x"}})
	// Review fields cannot be set by an edit.
	for _, f := range []string{"status", "author_id", "org_id", "version", "review", "template_version", "created_at"} {
		p := s.do(req{method: "PATCH", path: path, token: w.tokens["teacherA1"], header: ifMatchV(1), body: map[string]any{f: "x"}}).problem(t)
		if p.Status != 422 && p.Status != 400 {
			t.Errorf("PATCH %s: %d", f, p.Status)
		}
	}
	s.must(http.StatusPreconditionRequired, req{method: "PATCH", path: path, token: w.tokens["teacherA1"], body: map[string]any{"title": "x"}})
	s.must(http.StatusPreconditionFailed, req{method: "PATCH", path: path, token: w.tokens["teacherA1"], header: ifMatchV(7), body: map[string]any{"title": "x"}})
}

func TestReviewWorkflow(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher, principal := w.tokens["teacherA1"], w.tokens["principalA1"]
	r := s.createRecord(teacher, drill(uuid(), 10))
	path := "/api/v1/records/" + r.ID
	act := func(tok, action string, version int64, body map[string]any) response {
		return s.do(req{method: "POST", path: path + "/" + action, token: tok, header: ifMatchV(version), body: body})
	}
	s.must(http.StatusForbidden, req{method: "POST", path: path + "/approve", token: teacher, header: ifMatchV(1)})
	if p := act(principal, "return", 1, nil).problem(t); !p.hasField("comment") {
		t.Errorf("return without comment: %+v", p)
	}
	if resp := act(principal, "return", 1, map[string]any{"comment": "请补充照片"}); resp.status != http.StatusOK {
		t.Fatalf("return: %d %s", resp.status, resp.body)
	}
	var cur recordBody
	s.must(http.StatusOK, req{method: "GET", path: path, token: teacher}).decode(t, &cur)
	if cur.Status != "returned" || cur.Review == nil || cur.Review.Comment != "请补充照片" {
		t.Fatalf("after return %+v", cur)
	}
	s.must(http.StatusOK, req{method: "PATCH", path: path, token: teacher, header: ifMatchV(2),
		body: map[string]any{"data": map[string]any{"students": 12}}})
	s.must(http.StatusOK, req{method: "POST", path: path + "/submit", token: teacher, header: ifMatchV(3)})
	// Two reviewers race on the same version: one wins, the other is 412.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, tok := range []string{principal, w.tokens["adminA"]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := "approve"
			if i == 1 {
				action = "return"
			}
			codes[i] = act(tok, action, 4, map[string]any{"comment": "审核"}).status
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != http.StatusOK || codes[1] != http.StatusPreconditionFailed {
		t.Fatalf("racing reviewers: %v, want one 200 and one 412", codes)
	}
	s.must(http.StatusOK, req{method: "GET", path: path, token: teacher}).decode(t, &cur)
	if cur.Status == "returned" {
		s.must(http.StatusOK, req{method: "POST", path: path + "/submit", token: teacher, header: ifMatchV(cur.Version)})
		s.must(http.StatusOK, req{method: "POST", path: path + "/approve", token: principal, header: ifMatchV(cur.Version + 1)}).decode(t, &cur)
	}
	if cur.Status != "approved" {
		t.Fatalf("status %s, want approved", cur.Status)
	}
	v := cur.Version
	// Approved records are closed: no edits, no withdrawal, and only a reviewer may reopen, with a reason.
	if p := s.do(req{method: "PATCH", path: path, token: teacher, header: ifMatchV(v), body: map[string]any{"title": "x"}}).problem(t); p.Status != 409 {
		t.Errorf("edit approved: %d", p.Status)
	}
	s.must(http.StatusConflict, req{method: "DELETE", path: path, token: teacher, header: ifMatchV(v)})
	s.must(http.StatusForbidden, req{method: "POST", path: path + "/reopen", token: teacher, header: ifMatchV(v), body: map[string]any{"reason": "x"}})
	if p := act(principal, "reopen", v, nil).problem(t); !p.hasField("reason") {
		t.Errorf("reopen without reason: %+v", p)
	}
	s.must(http.StatusOK, req{method: "POST", path: path + "/reopen", token: principal, header: ifMatchV(v), body: map[string]any{"reason": "人数有误"}}).decode(t, &cur)
	if cur.Status != "returned" {
		t.Errorf("after reopen %s", cur.Status)
	}
	s.must(http.StatusConflict, req{method: "POST", path: path + "/approve", token: principal, header: ifMatchV(cur.Version)})

	// The history has every step, with before and after.
	var hist struct {
		Items []struct {
			Version int64  `json:"version"`
			Action  string `json:"action"`
			ActorID string `json:"actor_id"`
			Comment string `json:"comment"`
			Changes []struct {
				Field  string `json:"field"`
				Before any    `json:"before"`
				After  any    `json:"after"`
			} `json:"changes"`
		} `json:"items"`
	}
	s.must(http.StatusOK, req{method: "GET", path: path + "/history?limit=100", token: teacher}).decode(t, &hist)
	var actions []string
	for _, e := range hist.Items {
		actions = append(actions, e.Action)
	}
	if len(actions) < 6 || actions[0] != "create" || actions[1] != "return" || actions[2] != "edit" || actions[len(actions)-1] != "reopen" {
		t.Errorf("history actions %v", actions)
	}
	edit := hist.Items[2]
	if len(edit.Changes) != 1 || edit.Changes[0].Field != "data.students" || edit.Changes[0].Before != float64(10) || edit.Changes[0].After != float64(12) {
		t.Errorf("edit changes %+v", edit.Changes)
	}
	if hist.Items[1].ActorID != w.users["principalA1"] || hist.Items[1].Comment != "请补充照片" {
		t.Errorf("return event %+v", hist.Items[1])
	}

	// A principal's own record goes to the district: not self-approved.
	own := s.createRecord(principal, drill(uuid(), 10))
	s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/records/" + own.ID + "/approve", token: principal, header: ifMatchV(1)})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + own.ID + "/approve", token: w.tokens["adminA"], header: ifMatchV(1)})
	// The district may return a teacher's record but its principal approves it.
	other := s.createRecord(teacher, drill(uuid(), 10))
	s.must(http.StatusForbidden, req{method: "POST", path: "/api/v1/records/" + other.ID + "/approve", token: w.tokens["adminA"], header: ifMatchV(1)})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + other.ID + "/return", token: w.tokens["adminA"], header: ifMatchV(1), body: map[string]any{"comment": "重复填报"}})
	// Withdrawing keeps the record for audit.
	s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/records/" + other.ID, token: teacher, header: ifMatchV(2)})
	s.must(http.StatusNotFound, req{method: "GET", path: "/api/v1/records/" + other.ID, token: teacher})
	s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records/" + other.ID + "/history", token: principal})
	// Drafts are not reviewed until submitted.
	draft := drill(uuid(), 10)
	draft["status"] = "draft"
	d := s.createRecord(teacher, draft)
	if d.Status != "draft" {
		t.Errorf("draft status %s", d.Status)
	}
	s.must(http.StatusConflict, req{method: "POST", path: "/api/v1/records/" + d.ID + "/approve", token: principal, header: ifMatchV(1)})
	s.must(http.StatusOK, req{method: "POST", path: "/api/v1/records/" + d.ID + "/submit", token: teacher, header: ifMatchV(1)})
}

func TestRecordListAndSync(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	var ids []string
	for i := range 5 {
		b := drill(uuid(), 10+i)
		b["occurred_on"] = fmt.Sprintf("2025-10-%02d", 10+i)
		ids = append(ids, s.createRecord(teacher, b).ID)
		s.clock.Advance(time.Millisecond) // ids order by creation time
	}
	training := map[string]any{"client_id": uuid(), "template": "teacher_training", "occurred_on": "2025-09-01", "title": "国培",
		"data": map[string]any{"level": "国家级", "participants": 20, "hours": 8}}
	tr := s.do(req{method: "POST", path: "/api/v1/records", token: teacher, body: training})
	if tr.status != http.StatusCreated {
		t.Fatalf("training record: %d %s", tr.status, tr.body)
	}
	s.createRecord(w.tokens["teacherA1b"], drill(uuid(), 1))

	// Newest first; pages stay stable while records are added.
	page1 := s.listRecords(teacher, "limit=2&template=safety_drill")
	if len(page1.Items) != 2 || page1.Items[0].ID != ids[4] || page1.NextCursor == "" {
		t.Fatalf("page 1 %+v", page1)
	}
	s.createRecord(teacher, drill(uuid(), 99))
	var seen []string
	for _, it := range page1.Items {
		seen = append(seen, it.ID)
	}
	cursor := page1.NextCursor
	for cursor != "" {
		p := s.listRecords(teacher, "limit=2&template=safety_drill&cursor="+cursor)
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		cursor = p.NextCursor
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Errorf("paged %v, want %v", seen, want)
	}
	for _, tc := range []struct {
		query string
		n     int
	}{
		{"template=teacher_training", 1},
		{"from=2025-10-11&to=2025-10-13&template=safety_drill", 3},
		{"status=approved", 0},
		{"status=submitted&limit=100", 7},
		{"org_id=" + w.schoolA1 + "&limit=100", 7},
	} {
		if got := len(s.listRecords(teacher, tc.query).Items); got != tc.n {
			t.Errorf("%s: %d items, want %d", tc.query, got, tc.n)
		}
	}
	principal := w.tokens["principalA1"]
	if got := len(s.listRecords(principal, "author_id="+w.users["teacherA1b"]).Items); got != 1 {
		t.Errorf("principal by author: %d", got)
	}
	for _, bad := range []string{"status=nope", "from=2025-13-01", "cursor=@@", "limit=0", "updated_since=yesterday", "fields=password_hash",
		"template=%27%3B%20DROP%20TABLE%20records%3B%20--", "org_id=%22)%20OR%201%3D1%20--", "author_id=%7B%22%24ne%22%3Anull%7D"} {
		if resp := s.do(req{method: "GET", path: "/api/v1/records?" + bad, token: teacher}); resp.status != 400 && resp.status != 422 {
			t.Errorf("%s: %d", bad, resp.status)
		}
	}
	// fields= keeps payloads small.
	resp := s.must(http.StatusOK, req{method: "GET", path: "/api/v1/records?fields=title&limit=1", token: teacher})
	var small struct {
		Items []map[string]any `json:"items"`
	}
	resp.decode(t, &small)
	keys := make([]string, 0)
	for k := range small.Items[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"id", "status", "title", "version"}) {
		t.Errorf("fields=title gave %v", keys)
	}

	// Sync: everything changed since a moment, withdrawals as tombstones.
	since := s.clock.Now().Add(-time.Hour).Format(time.RFC3339)
	all := s.listRecords(teacher, "updated_since="+since+"&limit=100")
	if len(all.Items) != 7 {
		t.Fatalf("sync has %d, want 7", len(all.Items))
	}
	s.clock.Advance(time.Second)
	mark := s.clock.Now().Format(time.RFC3339Nano)
	s.clock.Advance(time.Second)
	s.must(http.StatusNoContent, req{method: "DELETE", path: "/api/v1/records/" + ids[0], token: teacher, header: ifMatchV(1)})
	delta := s.listRecords(teacher, "updated_since="+mark)
	if len(delta.Items) != 1 || delta.Items[0].ID != ids[0] || !delta.Items[0].Deleted || delta.Items[0].Status != "withdrawn" {
		t.Errorf("delta %+v", delta.Items)
	}
	// A sync feed pages by change time.
	var synced []string
	cursor = ""
	for {
		q := "updated_since=" + since + "&limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		p := s.listRecords(teacher, q)
		for _, it := range p.Items {
			synced = append(synced, it.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(synced) != 7 || synced[len(synced)-1] != ids[0] {
		t.Errorf("synced %v", synced)
	}
	// Withdrawn records leave the normal list.
	if n := len(s.listRecords(teacher, "limit=100").Items); n != 6 {
		t.Errorf("list after withdraw: %d", n)
	}
	// gzip when asked.
	gz := s.do(req{method: "GET", path: "/api/v1/records?limit=100", token: teacher, header: map[string]string{"Accept-Encoding": "gzip"}})
	if gz.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("no gzip: %v", gz.header)
	}
}
