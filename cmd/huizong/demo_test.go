package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/huizong/huizong/repository/sqlite"
	"github.com/huizong/huizong/services"
)

// TestDemo: huizong demo loads a city whose figures read like a bureau's
// (two school years, every record reviewed by the right person, totals
// exact), refuses a store that holds data unless -force, and says how to
// sign in.
func TestDemo(t *testing.T) {
	if usingMongo() {
		t.Skip("the command opens the store from the configuration")
	}
	dir := t.TempDir()
	env := func(k string) string {
		return map[string]string{"HUIZONG_DATA_DIR": dir, "HUIZONG_LOG_LEVEL": "error", "HUIZONG_ADMIN_PASSWORD": adminPassword}[k]
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"demo", "-schools", "3"}, env, &out, io.Discard); err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, want := range []string{"Demo city loaded", "cq.admin", "cq02.head", "cq02.t1", "huizong serve"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), []string{"demo", "-schools", "1"}, env, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--force") {
		t.Errorf("a second load without -force: %v", err)
	}
	if err := run(context.Background(), []string{"demo", "-schools", "1", "-force"}, env, io.Discard, io.Discard); err != nil {
		t.Errorf("a second load with -force: %v", err)
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, err := st.UserByLogin(ctx, "cq.admin")
	if err != nil {
		t.Fatal(err)
	}
	p := services.Principal{User: admin}
	totals := services.NewTotals(st, st, st, st, services.DefaultCalendar(), time.Now, nil)
	for _, template := range []string{"safety_drill", "teacher_training", "school_profile", "honor_award", "petition"} {
		rep, err := totals.Get(ctx, p, services.TotalsQuery{Templates: []string{template}, Compare: services.ComparePrevious})
		if err != nil {
			t.Fatalf("%s totals: %v", template, err)
		}
		if len(rep.Rows) != 1 || rep.Rows[0].Count == 0 || rep.Rows[0].Previous == nil || rep.Rows[0].Previous.Count == 0 {
			t.Errorf("%s: this year and last year: %+v", template, rep.Rows)
		}
	}
	// Photos on some records, as phones send them.
	withPhotos := 0
	list, err := st.Records(ctx, services.ScopeAll(), services.RecordQuery{Template: "safety_drill", Limit: services.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if len(r.Attachments) > 0 {
			withPhotos++
		}
	}
	if withPhotos == 0 {
		t.Errorf("no drill record of %d has a photo", len(list))
	}
	drift, err := totals.Verify(ctx, services.Principal{User: services.User{Role: services.RoleSysadmin}}, nil)
	if err != nil || drift.Drifted != 0 {
		t.Errorf("verify after the demo: %+v %v", drift, err)
	}
}
