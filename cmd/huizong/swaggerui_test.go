package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds a Chromium or Chrome binary on PATH.
func browserPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestSwaggerUI opens the Swagger UI in a headless browser and uses it as
// an integrator would: authorize with a bearer token, try out listRecords
// and get a live 200 back, under the UI's real Content-Security-Policy.
// Without a browser it skips, unless HUIZONG_TEST_BROWSER=1 (CI) makes
// that a failure.
func TestSwaggerUI(t *testing.T) {
	browser := browserPath()
	if browser == "" {
		if os.Getenv("HUIZONG_TEST_BROWSER") == "1" {
			t.Fatal("HUIZONG_TEST_BROWSER=1 but no chromium, chromium-browser or google-chrome on PATH")
		}
		t.Skip("no chromium, chromium-browser or google-chrome on PATH (set HUIZONG_TEST_BROWSER=1 to require one)")
	}
	s := newTestServer(t, nil)
	token := s.adminToken()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1024),
	)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

	// Everything the page reports as an error: console.error calls,
	// uncaught exceptions, and browser log errors such as CSP violations
	// and failed requests.
	var mu sync.Mutex
	var problems []string
	console := chromedp.Console(ctx) // subscribes now: starts the browser
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	defer func() { cancelTab(); <-collected }()
	consoleErrors := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(problems, "\n")
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nbrowser console errors:\n%s", name, err, consoleErrors())
		}
	}
	text := func(name, sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v\nbrowser console errors:\n%s", name, err, consoleErrors())
		}
		return v
	}

	const op = "#operations-records-listRecords"
	step("load the Swagger UI",
		chromedp.Navigate(s.http.URL+"/swagger/index.html"),
		chromedp.WaitVisible(chromedp.CSS(op+" .opblock-summary")),
	)

	// BearerAuth is an apiKey in the Authorization header: the value is
	// the whole header, "Bearer <token>".
	const modal = ".dialog-ux .modal-ux"
	step("authorize",
		chromedp.Click(chromedp.CSS(".scheme-container button.authorize")),
		chromedp.WaitVisible(chromedp.CSS(modal+" .auth-container input")),
		chromedp.SendKeys(chromedp.CSS(modal+" .auth-container input"), "Bearer "+token),
		chromedp.Click(chromedp.CSS(modal+" .auth-btn-wrapper button.authorize")),
		chromedp.Click(chromedp.CSS(modal+" .auth-btn-wrapper button.btn-done")),
		chromedp.WaitNotPresent(chromedp.CSS(modal)),
	)

	live := op + " .live-responses-table tbody .response-col_status"
	step("try out listRecords",
		chromedp.Click(chromedp.CSS(op+" .opblock-summary")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(live)),
	)
	status := text("live response status", live)
	curl := text("curl", op+" .curl")
	if code := strings.Fields(status); len(code) == 0 || code[0] != "200" {
		body := text("live response", op+" .live-responses-table tbody .response-col_description")
		t.Fatalf("live response status %q, want 200\nresponse: %s\ncurl: %s\nbrowser console errors:\n%s",
			status, body, curl, consoleErrors())
	}
	t.Logf("Swagger UI: Try it out on GET /api/v1/records answered %s", strings.Fields(status)[0])
	if !strings.Contains(curl, "Authorization: Bearer "+token) {
		t.Errorf("the request did not carry the bearer token; curl:\n%s", curl)
	}
	if p := consoleErrors(); p != "" {
		t.Errorf("browser console errors:\n%s", p)
	}
}
