package main

import (
	"encoding/json"
	mrand "math/rand/v2"
	"slices"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestSynchronousList(t *testing.T) {
	got, err := synchronousList(" full, NORMAL ,")
	if err != nil || !slices.Equal(got, []string{"FULL", "NORMAL"}) {
		t.Fatalf("synchronousList = %q, %v", got, err)
	}
	if _, err := synchronousList(" , "); err == nil {
		t.Fatal("an empty list was accepted")
	}
}

func TestTargetOne(t *testing.T) {
	d := &district{base: "http://x", phones: []phone{{token: "a", etag: `"va"`}, {token: "b", etag: `"vb"`}},
		acked: map[string]string{}, sent: map[string]sent{}, batch: 3}
	rng := mrand.New(mrand.NewPCG(1, 2))
	var tg vegeta.Target

	d.mix, d.next = mixBatch, 0
	for i, tok := range []string{"a", "b", "a"} {
		if err := d.target(rng, &tg); err != nil {
			t.Fatal(err)
		}
		var b struct{ Records []json.RawMessage }
		if tg.Method != "POST" || tg.URL != "http://x/api/v1/records:batch" || tg.Header.Get("Authorization") != "Bearer "+tok ||
			json.Unmarshal(tg.Body, &b) != nil || len(b.Records) != 3 {
			t.Fatalf("batch %d: %s %s %v %d records", i, tg.Method, tg.URL, tg.Header, len(b.Records))
		}
		if k := kindOf(&vegeta.Result{Method: tg.Method, URL: tg.URL}, d.batch); k != "POST /records:batch (3 records)" {
			t.Fatalf("kind %q", k)
		}
	}

	d.mix, d.next = mixSubmit, 0
	ids := map[string]bool{}
	for range 4 {
		_ = d.target(rng, &tg)
		var r struct {
			ClientID string `json:"client_id"`
		}
		if tg.URL != "http://x/api/v1/records" || json.Unmarshal(tg.Body, &r) != nil || ids[r.ClientID] {
			t.Fatalf("submit: %s %s", tg.URL, tg.Body)
		}
		ids[r.ClientID] = true
	}
	if len(d.sent) != 0 {
		t.Fatalf("-mix submit kept %d bodies for retries", len(d.sent))
	}

	d.mix, d.next = mixRead, 0
	want := []struct{ url, token, inm string }{
		{"http://x/api/v1/me", "a", ""}, {"http://x" + templatePath, "a", `"va"`},
		{"http://x/api/v1/me", "b", ""}, {"http://x" + templatePath, "b", `"vb"`},
	}
	for i, w := range want {
		_ = d.target(rng, &tg)
		if tg.Method != "GET" || tg.URL != w.url || tg.Header.Get("Authorization") != "Bearer "+w.token || tg.Header.Get("If-None-Match") != w.inm {
			t.Fatalf("read %d: %s %s %v", i, tg.Method, tg.URL, tg.Header)
		}
	}
	if k := kindOf(&vegeta.Result{Method: "GET", URL: "http://x/api/v1/me"}, 0); k != "GET /me" {
		t.Fatalf("kind %q", k)
	}
}
