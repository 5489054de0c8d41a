package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowClientsAndEndlessBodies runs the real server (serve): clients
// that send their headers a byte at a time and never finish (slowloris)
// are cut off after the header timeout while others are served at once,
// and a body that never ends is refused with 413 after the body limit,
// not read for ever.
func TestSlowClientsAndEndlessBodies(t *testing.T) {
	if usingMongo() {
		t.Skip("serve opens the store from the configuration")
	}
	if testing.Short() {
		t.Skip("waits for the header timeout")
	}
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), map[string]string{"HUIZONG_ADDR": "127.0.0.1:0", "HUIZONG_MAX_BODY_BYTES": "65536"})
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newLogger(cfg, io.Discard), io.Discard, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := <-ready

	// 50 slow clients hold connections with headers that never end.
	const slow = 50
	var closed atomic.Int64
	start := time.Now()
	finished := make(chan time.Duration, slow)
	for range slow {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		go func() {
			_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: huizong\r\nX-Slow: ")
			buf := make([]byte, 1)
			for {
				if _, err := conn.Write([]byte("a")); err != nil {
					break
				}
				_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := conn.Read(buf); err != nil && !isTimeout(err) {
					break // the server closed the connection
				}
			}
			closed.Add(1)
			finished <- time.Since(start)
		}()
	}
	// Meanwhile everyone else is served at once.
	for range 20 {
		t0 := time.Now()
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("a normal client beside the slow ones: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || time.Since(t0) > 2*time.Second {
			t.Errorf("a normal client: %d in %s", resp.StatusCode, time.Since(t0))
		}
	}

	// A body that never ends.
	var sent atomic.Int64
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/auth/login", endless{n: &sent})
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("endless body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("endless body: status %d, want 413", resp.StatusCode)
	}
	if n := sent.Load(); n > 8<<20 {
		t.Errorf("the server read %d bytes of an endless body (limit 64 KiB)", n)
	}

	// The slow ones are cut off after the header timeout (10 s), not held.
	deadline := time.After(20 * time.Second)
	for range slow {
		select {
		case d := <-finished:
			if d < 9*time.Second {
				t.Errorf("a slow client was cut after %s, before the header timeout", d)
			}
		case <-deadline:
			t.Fatalf("%d of %d slow clients still connected after 20 s", slow-int(closed.Load()), slow)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// endless is a request body that never ends, counting what was read.
type endless struct{ n *atomic.Int64 }

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}
