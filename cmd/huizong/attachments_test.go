package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"sync"
	"testing"
)

// photo is a JPEG as a phone takes it: with an Exif segment that holds a
// GPS position (tagged with a marker the test can look for).
func photo(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	// TIFF header, one IFD entry pointing at a GPS IFD, and the marker.
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08" + "\x00\x01" + "\x88\x25\x00\x04\x00\x00\x00\x01\x00\x00\x00\x1a" + "\x00\x00\x00\x00" +
		"\x00\x00" + "GPS-30.6574N-104.0665E")
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, payload...)
	return append(out, buf.Bytes()[2:]...)
}

// upload posts a file as multipart form data.
func (s *testServer) upload(token, clientID, name string, content []byte) response {
	s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if clientID != "" {
		_ = mw.WriteField("client_id", clientID)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		s.t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	r, _ := http.NewRequest("POST", s.http.URL+"/api/v1/attachments", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Client().Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

type attachmentBody struct {
	ID           string `json:"id"`
	ClientID     string `json:"client_id"`
	Name         string `json:"name"`
	ContentType  string `json:"content_type"`
	Size         int64  `json:"size"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	URL          string `json:"url"`
	ThumbnailURL string `json:"thumbnail_url"`
}

func TestAttachments(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	pic := photo(t, 800, 600)
	if !bytes.Contains(pic, []byte("GPS-30.6574N")) {
		t.Fatal("test photo lacks its GPS marker")
	}
	clientID := uuid()
	resp := s.upload(teacher, clientID, "../../演练现场.png", pic)
	if resp.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.status, resp.body)
	}
	var a attachmentBody
	resp.decode(t, &a)
	if a.ContentType != "image/jpeg" || a.Width != 800 || a.Height != 600 || a.Name != "演练现场.jpg" || a.ThumbnailURL == "" {
		t.Errorf("attachment %+v", a)
	}
	// Retries, also eight at once, store it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var again attachmentBody
			r := s.upload(teacher, clientID, "x.jpg", pic)
			if r.status != http.StatusOK {
				t.Errorf("retry: %d %s", r.status, r.body)
				return
			}
			r.decode(t, &again)
			if again.ID != a.ID {
				t.Errorf("retry stored %s, want %s", again.ID, a.ID)
			}
		}()
	}
	wg.Wait()

	// The stored photo has no location data and still decodes to the same size.
	content := s.must(http.StatusOK, req{method: "GET", path: a.URL, token: teacher})
	if bytes.Contains(content.body, []byte("GPS-30.6574N")) || bytes.Contains(content.body, []byte("Exif\x00")) {
		t.Error("stored photo still carries its Exif/GPS data")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(content.body))
	if err != nil || cfg.Width != 800 || cfg.Height != 600 {
		t.Errorf("stored photo: %v %+v", err, cfg)
	}
	if ct := content.header.Get("Content-Type"); ct != "image/jpeg" || content.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download headers %v", content.header)
	}
	s.must(http.StatusNotModified, req{method: "GET", path: a.URL, token: teacher, header: map[string]string{"If-None-Match": content.header.Get("ETag")}})
	thumb := s.must(http.StatusOK, req{method: "GET", path: a.ThumbnailURL, token: teacher})
	tc, err := jpeg.DecodeConfig(bytes.NewReader(thumb.body))
	if err != nil || tc.Width != 320 || tc.Height != 240 {
		t.Errorf("thumbnail: %v %+v", err, tc)
	}

	// Downloads are scoped like records.
	for who, want := range map[string]int{"teacherA1b": 404, "teacherB1": 404, "principalB1": 404, "adminB": 404, "principalA1": 200, "adminA": 200} {
		if r := s.do(req{method: "GET", path: a.URL, token: w.tokens[who]}); r.status != want {
			t.Errorf("%s download: %d, want %d", who, r.status, want)
		}
	}

	// Records refer to attachments by id; at most 9, and only one's own.
	add := func(tok string, ids []string) response {
		body := map[string]any{"client_id": uuid(), "template": "safety_drill", "occurred_on": "2025-10-09", "title": "演练",
			"data": map[string]any{"kind": "消防", "students": 10, "photos": ids}}
		return s.do(req{method: "POST", path: "/api/v1/records", token: tok, body: body})
	}
	if r := add(teacher, []string{a.ID}); r.status != http.StatusCreated {
		t.Fatalf("record with photo: %d %s", r.status, r.body)
	} else {
		var rec recordBody
		r.decode(t, &rec)
		if len(rec.Attachments) != 1 || rec.Attachments[0] != a.ID {
			t.Errorf("record attachments %v", rec.Attachments)
		}
	}
	if p := add(w.tokens["teacherA1b"], []string{a.ID}).problem(t); !p.hasField("data.photos") {
		t.Errorf("someone else's photo: %+v", p)
	}
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("%s%d", a.ID[:20], i)
	}
	if p := add(teacher, ten).problem(t); p.Status != 422 {
		t.Errorf("10 photos: %+v", p)
	}

	// Only JPEG, PNG, WebP and PDF, sniffed from the bytes; 10 MB at most.
	for name, body := range map[string][]byte{
		"fake.jpg":  []byte("<html><script>alert(1)</script></html>"),
		"anim.gif":  []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"trunc.jpg": pic[:200],
	} {
		r := s.upload(teacher, uuid(), name, body)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	var doc attachmentBody
	up := s.upload(teacher, uuid(), "证书.pdf", pdf)
	if up.status != http.StatusCreated {
		t.Fatalf("pdf: %d %s", up.status, up.body)
	}
	up.decode(t, &doc)
	if doc.ContentType != "application/pdf" || doc.ThumbnailURL != "" {
		t.Errorf("pdf %+v", doc)
	}
	big := append(bytes.Clone(pic), bytes.Repeat([]byte{0}, 10<<20)...)
	if r := s.upload(teacher, uuid(), "big.jpg", big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("11 MB upload: %d", r.status)
	}
	if r := s.upload(teacher, "not-a-uuid", "x.jpg", pic); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad client id: %d", r.status)
	}
}

// TestAttachmentDecompressionBomb uploads the header of a 7071x7071 16-bit
// RGBA PNG: under the pixel limit, but 400 MB to decode. It must be
// refused as too large from its header alone (a file that got as far as
// decoding would fail as "corrupt", having no pixel data), six at once
// too. services/media tests the complete 470 KB file.
func TestAttachmentDecompressionBomb(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.seed()
	teacher := w.tokens["teacherA1"]
	bomb := []byte("\x89PNG\r\n\x1a\n" +
		"\x00\x00\x00\x0dIHDR\x00\x00\x1b\x9f\x00\x00\x1b\x9f\x10\x06\x00\x00\x00\x5f\x85\x5c\x18" + // 7071x7071, 16-bit, RGBA
		"\x00\x00\x00\x00IEND\xae\x42\x60\x82")
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.upload(teacher, uuid(), "bomb.png", bomb)
			if r.status != http.StatusUnprocessableEntity {
				t.Errorf("bomb upload: %d %s", r.status, r.body)
				return
			}
			p := r.problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != "file" || p.Errors[0].Code != "image_too_large" {
				t.Errorf("bomb upload problem %+v", p)
			}
		}()
	}
	wg.Wait()
}
