package media

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/webp"
)

const gpsMarker = "GPS-30.6574N-104.0665E"

func gradient(w, h int, alpha uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 3), uint8(y * 5), 90, alpha})
		}
	}
	return img
}

func segment(marker byte, payload string) []byte {
	n := len(payload) + 2
	return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
}

// phoneJPEG is a JPEG as phones write them: Exif with a GPS position,
// XMP and a comment before the image data.
func phoneJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gradient(64, 48, 255), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	out := []byte{0xFF, 0xD8}
	out = append(out, segment(0xE1, "Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x88\x25\x00\x04\x00\x00\x00\x01\x00\x00\x00\x1a\x00\x00\x00\x00"+gpsMarker)...)
	out = append(out, segment(0xE1, "http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>"+gpsMarker+"</x:xmpmeta>")...)
	out = append(out, segment(0xFE, "taken at "+gpsMarker)...)
	return append(out, buf.Bytes()[2:]...)
}

func chunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// taggedPNG is a PNG with text and Exif chunks after its header.
func taggedPNG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, gradient(20, 10, 200)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	ihdrEnd := 8 + 12 + 13
	out := append([]byte{}, b[:ihdrEnd]...)
	out = append(out, chunk("tEXt", []byte("Location\x00"+gpsMarker))...)
	out = append(out, chunk("eXIf", []byte("MM\x00\x2a"+gpsMarker))...)
	return append(out, b[ihdrEnd:]...)
}

// lossless1x1 is a valid 1x1 lossless WebP (VP8L) bitstream.
const lossless1x1 = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="

func riffChunk(typ string, data []byte) []byte {
	b := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// taggedWebP wraps the 1x1 image in an extended (VP8X) file with an EXIF
// and an XMP chunk.
func taggedWebP(t testing.TB) []byte {
	t.Helper()
	simple, _ := base64.StdEncoding.DecodeString(lossless1x1)
	vp8l := simple[12:] // the VP8L chunk
	vp8x := riffChunk("VP8X", []byte{0x08 | 0x04 | 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	body := append([]byte("WEBP"), vp8x...)
	body = append(body, vp8l...)
	body = append(body, riffChunk("EXIF", []byte("MM\x00\x2a"+gpsMarker))...)
	body = append(body, riffChunk("XMP ", []byte("<x>"+gpsMarker+"</x>"))...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func samePixels(t *testing.T, a, b image.Image) {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("bounds %v vs %v", a.Bounds(), b.Bounds())
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				t.Fatalf("pixel %d,%d differs", x, y)
			}
		}
	}
}

func TestStripRemovesMetadataKeepsPixels(t *testing.T) {
	decoders := map[string]func([]byte) (image.Image, error){
		JPEG: func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) },
		PNG:  func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) },
		WebP: func(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) },
	}
	for _, tc := range []struct {
		name, ct string
		file     []byte
		gone     []string
	}{
		{"jpeg", JPEG, phoneJPEG(t), []string{"Exif\x00", "xmpmeta", "taken at"}},
		{"png", PNG, taggedPNG(t), []string{"tEXt", "eXIf"}},
		{"webp", WebP, taggedWebP(t), []string{"EXIF", "XMP "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Inspect(tc.file)
			if err != nil || info.ContentType != tc.ct {
				t.Fatalf("Inspect: %+v %v", info, err)
			}
			before, err := decoders[tc.ct](tc.file)
			if err != nil {
				t.Fatalf("original does not decode: %v", err)
			}
			out, err := Strip(tc.file, tc.ct)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(tc.gone, gpsMarker) {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("%q still in the output", s)
				}
			}
			after, err := decoders[tc.ct](out)
			if err != nil {
				t.Fatalf("stripped file does not decode: %v", err)
			}
			samePixels(t, before, after)
			again, err := Strip(out, tc.ct)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("stripping twice changed the file (%v)", err)
			}
			if tc.ct == WebP {
				if out[12+8]&(0x08|0x04) != 0 || out[12+8]&0x10 == 0 {
					t.Errorf("VP8X flags %08b: want EXIF/XMP cleared, alpha kept", out[12+8])
				}
				if got := binary.LittleEndian.Uint32(out[4:]); int(got) != len(out)-8 {
					t.Errorf("RIFF size %d, file %d", got, len(out))
				}
			}
		})
	}
}

func TestInspectRejects(t *testing.T) {
	pic := phoneJPEG(t)
	bomb := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, 100000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 100000)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	bomb = append(bomb, chunk("IHDR", ihdr)...)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ErrUnsupported},
		{"html", []byte("<html><script>alert(1)</script></html>"), ErrUnsupported},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), ErrUnsupported},
		{"truncated jpeg", pic[:40], ErrUnsupported},
		{"empty", nil, ErrUnsupported},
		{"png bomb", bomb, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Inspect(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	info, err := Inspect([]byte("%PDF-1.7\n%%EOF"))
	if err != nil || info.ContentType != PDF {
		t.Errorf("pdf: %+v %v", info, err)
	}
}

func TestThumbnail(t *testing.T) {
	var big, small bytes.Buffer
	jpeg.Encode(&big, gradient(800, 600, 255), nil)
	png.Encode(&small, gradient(100, 50, 0))
	for _, tc := range []struct {
		name, ct string
		b        []byte
		w, h     int
	}{
		{"landscape scaled", JPEG, big.Bytes(), 320, 240},
		{"small not upscaled", PNG, small.Bytes(), 100, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Thumbnail(tc.b, tc.ct, 320)
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil || img.Bounds().Dx() != tc.w || img.Bounds().Dy() != tc.h {
				t.Fatalf("thumbnail %v %v, want %dx%d", img.Bounds(), err, tc.w, tc.h)
			}
			if tc.ct == PNG {
				// Fully transparent pixels come out white.
				r, g, b, _ := img.At(10, 10).RGBA()
				if r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
					t.Errorf("transparent area is %d,%d,%d, want white", r>>8, g>>8, b>>8)
				}
			}
		})
	}
	if _, err := Thumbnail([]byte("%PDF-1.4"), PDF, 320); !errors.Is(err, ErrUnsupported) {
		t.Errorf("pdf thumbnail: %v", err)
	}
}

func FuzzStrip(f *testing.F) {
	f.Add(phoneJPEG(f), JPEG)
	f.Add(taggedPNG(f), PNG)
	f.Add(taggedWebP(f), WebP)
	f.Fuzz(func(t *testing.T, b []byte, ct string) {
		out, err := Strip(b, ct)
		if err != nil {
			return
		}
		again, err := Strip(out, ct)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent (%v)", err)
		}
	})
}
