package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDebugServesPprof(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr, stop, err := serveDebug(context.Background(), "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		path, want string
	}{
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/goroutine?debug=1", "goroutine"},
		{"/debug/pprof/cmdline", ""},
	}
	for _, tt := range tests {
		res, err := client.Get("http://" + addr + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: %d %.200q, want 200 containing %q", tt.path, res.StatusCode, body, tt.want)
		}
	}
	// Only pprof is served: not what DefaultServeMux may hold.
	res, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", res.StatusCode)
	}
}

func TestDebugStops(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addr, stop, err := serveDebug(ctx, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := client.Get("http://" + addr + "/debug/pprof/")
		if err != nil {
			break // closed with its context
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop() // idempotent
}

func TestDebugRefusesNonLoopback(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, stop, err := serveDebug(context.Background(), ":0", log); err == nil {
		stop()
		t.Error("listening on all interfaces: got nil error")
	}
}
