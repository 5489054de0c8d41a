package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// bombPNG is a real, complete w x h 16-bit RGBA PNG of zeros. It is
// written row by row straight into zlib, so building it never holds the
// decoded image (400 MB for 7071x7071) in memory.
func bombPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // bit depth 16, truecolour with alpha
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	// BestSpeed: a third of the time of the default, and still well under
	// the upload limit.
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+w*8) // filter byte 0, then zero pixels
	for range h {
		if _, err := zw.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// jpegHeader is the start of a JPEG as far as DecodeConfig reads it: SOI
// a start-of-frame segment (marker 0xC0 baseline, 0xC2 progressive)
// with the given sampling factors, one byte (h<<4|v) per component,
// and the start of a scan.
func jpegHeader(marker byte, w, h int, sampling ...byte) []byte {
	seg := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(sampling))}
	for i, hv := range sampling {
		seg = append(seg, byte(i+1), hv, 0)
	}
	b := []byte{0xFF, 0xD8, 0xFF, marker, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	b = append(b, seg...)
	// DecodeConfig of a non-JFIF file reads on to the start of scan.
	return append(b, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0)
}

func TestBombPNGRefused(t *testing.T) {
	b := bombPNG(t, 7071, 7071)
	if len(b) > maxUpload {
		t.Fatalf("bomb is %d bytes, more than an upload may be", len(b))
	} else {
		t.Logf("bomb is %d KB", len(b)>>10)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width != 7071 || cfg.ColorModel != color.NRGBA64Model {
		t.Fatalf("bomb does not read as a 16-bit RGBA PNG: %v %+v", err, cfg)
	}
	// Under the pixel limit, so only the decoded-size bound stops it.
	if cfg.Width*cfg.Height > maxPixels {
		t.Fatal("bomb is over the pixel limit; the test proves nothing")
	}
	if _, err := Inspect(b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Inspect(7071x7071 RGBA64 PNG) = %v, want ErrTooLarge", err)
	}
}

func TestInspectDecodedBytes(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
		max  int64 // 0: ErrTooLarge wanted
		min  int64
	}{
		// A 48 MP phone photo, 4:2:0 baseline: counted at 3 bytes a pixel.
		{"48MP baseline JPEG", jpegHeader(0xC0, 8000, 6000, 0x22, 0x11, 0x11), MaxDecodedBytes, 8000 * 6000 * 3 / 2},
		{"48MP baseline 4:4:4 JPEG", jpegHeader(0xC0, 8000, 6000, 0x11, 0x11, 0x11), MaxDecodedBytes, 8000 * 6000 * 3},
		{"48MP grey JPEG", jpegHeader(0xC0, 8000, 6000, 0x11), MaxDecodedBytes, 8000 * 6000},
		{"12MP progressive JPEG", jpegHeader(0xC2, 4000, 3000, 0x22, 0x11, 0x11), MaxDecodedBytes, 4000 * 3000 * (3 + 6)},
		// Progressive keeps 4 bytes a sample of coefficients: 7000x7000
		// 4:4:4 would take 147 MB + 588 MB.
		{"49MP progressive 4:4:4 JPEG", jpegHeader(0xC2, 7000, 7000, 0x11, 0x11, 0x11), 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Inspect(tt.b)
			if tt.max == 0 {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Inspect = %+v, %v; want ErrTooLarge", info, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.DecodedBytes < tt.min || info.DecodedBytes > tt.max {
				t.Errorf("DecodedBytes = %d, want in [%d, %d]", info.DecodedBytes, tt.min, tt.max)
			}
		})
	}
	// A real small PNG: the estimate covers the 8-bit NRGBA image.
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 64, 32))); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(buf.Bytes()); err != nil || info.DecodedBytes < 64*32*4 {
		t.Errorf("small PNG: %+v %v", info, err)
	}
}

func TestDecodeBytesPerPixel(t *testing.T) {
	for _, tt := range []struct {
		m    color.Model
		want int64
	}{
		{color.RGBA64Model, 8}, {color.NRGBA64Model, 8},
		{color.RGBAModel, 4}, {color.NRGBAModel, 4},
		{color.Gray16Model, 2}, {color.GrayModel, 1},
		{color.YCbCrModel, 3}, {color.CMYKModel, 8},
		{color.Palette{color.Black, color.White}, 1},
		{color.ModelFunc(func(c color.Color) color.Color { return c }), 8},
	} {
		if got := bytesPerPixel(tt.m); got != tt.want {
			t.Errorf("bytesPerPixel(%T) = %d, want %d", tt.m, got, tt.want)
		}
	}
	// The numbers the limit is chosen by.
	phone := decodedBytes(nil, PNG, image.Config{ColorModel: color.YCbCrModel, Width: 8000, Height: 6000})
	bombSize := decodedBytes(nil, PNG, image.Config{ColorModel: color.NRGBA64Model, Width: 7071, Height: 7071})
	if phone > MaxDecodedBytes || bombSize <= MaxDecodedBytes {
		t.Errorf("48 MP YCbCr = %d, 7071² RGBA64 = %d; limit %d", phone, bombSize, MaxDecodedBytes)
	}
}

// maxUpload mirrors services.MaxAttachmentBytes, which this package
// cannot import.
const maxUpload = 10 << 20
