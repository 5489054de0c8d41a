package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/xuri/excelize/v2"

	"github.com/huizong/huizong/client/api"
	"github.com/huizong/huizong/client/api/attachments"
	"github.com/huizong/huizong/client/api/auth"
	"github.com/huizong/huizong/client/api/exports"
	"github.com/huizong/huizong/client/api/orgs"
	"github.com/huizong/huizong/client/api/records"
	"github.com/huizong/huizong/client/api/reports"
	"github.com/huizong/huizong/client/api/tasks"
	"github.com/huizong/huizong/client/api/totals"
	"github.com/huizong/huizong/client/api/users"
	"github.com/huizong/huizong/client/models"
)

// TestClientBureauDay: a bureau's day through the Go client generated
// from docs/swagger.json (client/, go-swagger) alone, no raw HTTP: sign
// in, build the tree and the accounts, submit records as a teacher
// (single, retried with the same client id, an offline batch with one
// invalid), upload a photo, approve as the principal with If-Match from
// the declared ETag, read the district's totals, export XLSX, fetch the
// summary as Word, read task progress, disable and re-enable a user, and
// read an error as a problem document.
func TestClientBureauDay(t *testing.T) {
	s := newTestServer(t, nil)
	u, err := url.Parse(s.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := httptransport.New(u.Host, "/", []string{"http"})
	// What an integrator registers once: problems are JSON, files are bytes.
	tr.Consumers["application/problem+json"] = runtime.JSONConsumer()
	for _, mt := range []string{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv", "application/zip",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "image/jpeg", "image/png", "image/webp", "application/pdf"} {
		tr.Consumers[mt] = runtime.ByteStreamConsumer()
	}
	c := api.New(tr, strfmt.Default)
	// Required properties are pointers in go-swagger's models.
	str := func(v string) *string { return &v }
	day := func(v string) *strfmt.Date {
		var d strfmt.Date
		if err := d.UnmarshalText([]byte(v)); err != nil {
			t.Fatal(err)
		}
		return &d
	}
	signIn := func(login, password string) runtime.ClientAuthInfoWriter {
		t.Helper()
		ok, err := c.Auth.Login(auth.NewLoginParams().WithBody(&models.LoginRequest{Username: str(login), Password: str(password)}))
		if err != nil {
			t.Fatalf("sign in %s: %v", login, err)
		}
		return httptransport.BearerToken(*ok.Payload.AccessToken)
	}
	admin := signIn("admin", adminPassword)

	// The tree and the accounts.
	org := func(kind, name, parent string, stages ...string) string {
		t.Helper()
		body := &models.OrgRequest{Kind: str(kind), Name: str(name), ParentID: parent}
		if kind == "school" {
			body.Stages, body.Students, body.Staff = stages, 1200, 90
		}
		_, created, err := c.Orgs.CreateOrg(orgs.NewCreateOrgParams().WithBody(body), admin)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return *created.Payload.ID
	}
	city := org("city", "示范市", "")
	district := org("district", "城区", city)
	school := org("school", "城区实验小学", district, "小学")
	mobile := 13900000100
	user := func(username, role, orgID string) string {
		t.Helper()
		mobile++
		_, created, err := c.Users.CreateUser(users.NewCreateUserParams().WithBody(&models.UserRequest{Username: username, Name: str(username),
			Mobile: strconv.Itoa(mobile), Role: str(role), OrgID: orgID, Password: userPassword}), admin)
		if err != nil {
			t.Fatalf("create %s: %v", username, err)
		}
		return *created.Payload.ID
	}
	user("cq.admin", "district_admin", district)
	user("head01", "principal", school)
	teacherID := user("teacher01", "teacher", school)
	// An account an admin made changes its password before anything else.
	const ownPassword = userPassword + "-own"
	activate := func(login string) runtime.ClientAuthInfoWriter {
		t.Helper()
		if _, err := c.Auth.ChangeMyPassword(auth.NewChangeMyPasswordParams().WithBody(&models.ChangePasswordRequest{
			CurrentPassword: str(userPassword), NewPassword: str(ownPassword)}), signIn(login, userPassword)); err != nil {
			t.Fatalf("%s changes the password: %v", login, err)
		}
		return signIn(login, ownPassword)
	}
	bureau, head, teacher := activate("cq.admin"), activate("head01"), activate("teacher01")

	// A photo, then a drill record naming it; the same record again (a
	// phone's retry) is the first one.
	photo, err := os.ReadFile("../../docs/examples/drill.jpg")
	if err != nil {
		t.Fatal(err)
	}
	upOK, upCreated, err := c.Attachments.UploadAttachment(attachments.NewUploadAttachmentParams().WithClientID(str(uuid())).
		WithFile(runtime.NamedReader("drill.jpg", bytes.NewReader(photo))), teacher)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if upCreated == nil {
		t.Fatalf("upload answered %v, want 201", upOK)
	}
	drill := &models.RecordRequest{ClientID: uuid(), Template: str("safety_drill"), OccurredOn: day("2025-10-09"), Title: str("秋季消防演练"),
		Data: map[string]any{"kind": "消防", "drills": 1, "students": 1180, "staff": 86, "photos": []string{*upCreated.Payload.ID}}}
	_, created, err := c.Records.CreateRecord(records.NewCreateRecordParams().WithBody(drill), teacher)
	if err != nil || created == nil {
		t.Fatalf("create record: %v", err)
	}
	again, _, err := c.Records.CreateRecord(records.NewCreateRecordParams().WithBody(drill), teacher)
	if err != nil || again == nil || *again.Payload.ID != *created.Payload.ID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// An offline batch: two good records and one that fails alone.
	batch := records.CreateRecordBatchBody{Records: []*models.RecordRequest{
		{ClientID: uuid(), Template: str("safety_drill"), OccurredOn: day("2025-11-02"), Title: str("地震演练"),
			Data: map[string]any{"kind": "地震", "drills": 1, "students": 1150, "staff": 80}},
		{ClientID: uuid(), Template: str("safety_drill"), OccurredOn: day("2025-11-03"), Title: str("坏记录"),
			Data: map[string]any{"kind": "火山", "drills": 1}},
		{ClientID: uuid(), Template: str("home_school"), OccurredOn: day("2025-11-05"), Title: str("家访"),
			Data: map[string]any{"kind": "家访", "sessions": 3, "families": 40}},
	}}
	b, err := c.Records.CreateRecordBatch(records.NewCreateRecordBatchParams().WithBody(batch), teacher)
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	statuses := []string{}
	for _, r := range b.Payload.Results {
		statuses = append(statuses, *r.Status)
	}
	if strings.Join(statuses, ",") != "created,invalid,created" {
		t.Errorf("batch outcomes %v", statuses)
	}

	// The principal approves, with If-Match from the ETag the spec declares.
	got, err := c.Records.GetRecord(records.NewGetRecordParams().WithID(*created.Payload.ID), head)
	if err != nil || got.ETag == "" {
		t.Fatalf("get record: %+v %v", got, err)
	}
	if _, err := c.Records.ApproveRecord(records.NewApproveRecordParams().WithID(*created.Payload.ID).WithIfMatch(got.ETag).
		WithBody(&models.ReviewRequest{}), head); err != nil {
		t.Fatalf("approve: %v", err)
	}
	// A stale If-Match is a problem document the client reads.
	_, err = c.Records.ApproveRecord(records.NewApproveRecordParams().WithID(*created.Payload.ID).WithIfMatch(got.ETag).
		WithBody(&models.ReviewRequest{}), head)
	var conflict interface{ Code() int }
	if !errors.As(err, &conflict) || (conflict.Code() != 409 && conflict.Code() != 412) {
		t.Errorf("approving twice: %v", err)
	}

	// The district's totals count the approved drill.
	tot, err := c.Totals.GetTotals(totals.NewGetTotalsParams().WithOrgID(str(district)).WithTemplate(str("safety_drill")).
		WithPeriod(str("2025AY")), bureau)
	if err != nil || len(tot.Payload.Rows) != 1 || *tot.Payload.Rows[0].Count != 1 || tot.Payload.Rows[0].Sums["students"] != 1180 {
		t.Fatalf("totals: %+v %v", tot, err)
	}

	// Exports and the Word summary.
	var xlsx bytes.Buffer
	if _, err := c.Exports.ExportRecords(exports.NewExportRecordsParams().WithOrgID(str(district)).WithTemplate(str("safety_drill")), bureau, &xlsx); err != nil {
		t.Fatalf("export: %v", err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(xlsx.Bytes()))
	if err != nil {
		t.Fatalf("export is no workbook: %v", err)
	}
	if rows, _ := f.GetRows("应急疏散演练"); len(rows) != 3 {
		t.Errorf("exported rows %v", rows)
	}
	var word bytes.Buffer
	if _, err := c.Reports.GetSummaryDocument(reports.NewGetSummaryDocumentParams().WithOrgID(str(district)).WithPeriod(str("2025AY")),
		bureau, &word); err != nil {
		t.Fatalf("summary docx: %v", err)
	}
	if _, err := zip.NewReader(bytes.NewReader(word.Bytes()), int64(word.Len())); err != nil {
		t.Errorf("summary is no Word document: %v", err)
	}

	// A collection task and its progress.
	_, task, err := c.Tasks.CreateTask(tasks.NewCreateTaskParams().WithBody(&models.TaskRequest{Name: str("本学年应急疏散演练"),
		Templates: []string{"safety_drill"}, Period: str("2025AY"), OrgID: district, DueOn: day("2026-08-31"), MinPerSchool: 1}), bureau)
	if err != nil {
		t.Fatalf("task: %v", err)
	}
	pr, err := c.Tasks.GetTaskProgress(tasks.NewGetTaskProgressParams().WithID(*task.Payload.ID), bureau)
	if err != nil || *pr.Payload.Total.Targets != 1 || *pr.Payload.Total.Complete != 1 {
		t.Fatalf("progress: %+v %v", pr, err)
	}

	// Disable the teacher, then enable again: false reaches the server.
	for _, disabled := range []bool{true, false} {
		cur, err := c.Users.GetUser(users.NewGetUserParams().WithID(teacherID), admin)
		if err != nil {
			t.Fatal(err)
		}
		upd, err := c.Users.UpdateUser(users.NewUpdateUserParams().WithID(teacherID).WithIfMatch(cur.ETag).
			WithBody(&models.UserPatch{Disabled: &disabled}), admin)
		if err != nil || *upd.Payload.Disabled != disabled {
			t.Fatalf("disabled=%v: %+v %v", disabled, upd, err)
		}
	}
	signIn("teacher01", ownPassword)

	// An error as a problem document, in Chinese.
	_, err = c.Auth.Login(auth.NewLoginParams().WithBody(&models.LoginRequest{Username: str("teacher01"), Password: str("wrong password")}))
	var unauthorized *auth.LoginUnauthorized
	if !errors.As(err, &unauthorized) || unauthorized.Payload == nil || *unauthorized.Payload.Status != 401 || *unauthorized.Payload.Title == "" {
		t.Errorf("wrong password: %v", err)
	}
}
