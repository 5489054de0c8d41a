// Package media checks the files teachers attach to records: it tells what
// a file really is from its bytes, removes location and other metadata
// from photos without touching their pixels, and makes thumbnails.
package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Errors Inspect returns.
var (
	// ErrUnsupported means the bytes are not a JPEG, PNG, WebP or PDF
	// file, or not a readable one.
	ErrUnsupported = errors.New("unsupported file type")
	// ErrTooLarge means an image has more pixels than a phone photo would
	// (a decompression bomb, say).
	ErrTooLarge = errors.New("image too large")
)

// Content types the package accepts.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
	WebP = "image/webp"
	PDF  = "application/pdf"
)

// Limits on images.
const (
	maxPixels = 50_000_000
	maxSide   = 20_000
)

// Info is what Inspect learned about a file.
type Info struct {
	ContentType string
	Width       int
	Height      int
}

// Inspect sniffs the type of b from its bytes and reads an image's size
// from its header, without decoding the pixels.
func Inspect(b []byte) (Info, error) {
	var decode func([]byte) (image.Config, error)
	var ct string
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return Info{ContentType: PDF}, nil
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		ct, decode = JPEG, func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		ct, decode = PNG, func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		ct, decode = WebP, func(b []byte) (image.Config, error) { return webp.DecodeConfig(bytes.NewReader(b)) }
	default:
		return Info{}, ErrUnsupported
	}
	cfg, err := decode(b)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, ErrUnsupported
	}
	if cfg.Width > maxSide || cfg.Height > maxSide || cfg.Width*cfg.Height > maxPixels {
		return Info{}, ErrTooLarge
	}
	return Info{ContentType: ct, Width: cfg.Width, Height: cfg.Height}, nil
}

// Strip removes metadata from an image, keeping its pixel data byte for
// byte: Exif (with any GPS position), XMP, IPTC and comments. PDFs come
// back as they are.
func Strip(b []byte, contentType string) ([]byte, error) {
	switch contentType {
	case JPEG:
		return stripJPEG(b)
	case PNG:
		return stripPNG(b)
	case WebP:
		return stripWebP(b)
	case PDF:
		return b, nil
	}
	return nil, ErrUnsupported
}

var errMalformed = fmt.Errorf("%w: malformed file", ErrUnsupported)

// stripJPEG copies the segments before the image data except APP1 (Exif,
// XMP), APP13 (IPTC) and COM, then the rest of the file unchanged.
func stripJPEG(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, errMalformed
	}
	out := make([]byte, 0, len(b))
	out = append(out, 0xFF, 0xD8)
	i := 2
	for {
		// Fill bytes: any number of 0xFF before a marker.
		for i < len(b) && b[i] == 0xFF && i+1 < len(b) && b[i+1] == 0xFF {
			i++
		}
		if i+2 > len(b) || b[i] != 0xFF {
			return nil, errMalformed
		}
		marker := b[i+1]
		switch {
		case marker == 0xD9: // EOI without image data
			return append(out, b[i:]...), nil
		case marker >= 0xD0 && marker <= 0xD7, marker == 0x01:
			out = append(out, b[i:i+2]...)
			i += 2
			continue
		}
		if i+4 > len(b) {
			return nil, errMalformed
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil, errMalformed
		}
		seg := b[i : i+2+n]
		if marker == 0xDA { // start of scan: the rest is image data
			return append(out, b[i:]...), nil
		}
		if marker != 0xE1 && marker != 0xED && marker != 0xFE {
			out = append(out, seg...)
		}
		i += 2 + n
	}
}

// stripPNG drops the text, time and Exif chunks; kept chunks are copied
// whole, CRC included.
func stripPNG(b []byte) ([]byte, error) {
	const sig = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(b, []byte(sig)) {
		return nil, errMalformed
	}
	out := append(make([]byte, 0, len(b)), sig...)
	i := len(sig)
	for i < len(b) {
		if i+12 > len(b) {
			return nil, errMalformed
		}
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < 0 || n > len(b) || i+12+n > len(b) {
			return nil, errMalformed
		}
		typ := string(b[i+4 : i+8])
		chunk := b[i : i+12+n]
		switch typ {
		case "eXIf", "tEXt", "iTXt", "zTXt", "tIME":
		default:
			out = append(out, chunk...)
		}
		i += 12 + n
		if typ == "IEND" {
			return out, nil
		}
	}
	return nil, errMalformed
}

// stripWebP drops the EXIF and XMP chunks of a RIFF WebP file, clears
// their flags in the VP8X header and fixes the RIFF size.
func stripWebP(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, errMalformed
	}
	size := int(binary.LittleEndian.Uint32(b[4:]))
	if size < 4 || 8+size > len(b) {
		return nil, errMalformed
	}
	body := b[12 : 8+size]
	out := append(make([]byte, 0, len(b)), b[:12]...)
	for i := 0; i < len(body); {
		if i+8 > len(body) {
			return nil, errMalformed
		}
		n := int(binary.LittleEndian.Uint32(body[i+4:]))
		padded := n + n&1
		if n < 0 || i+8+n > len(body) {
			return nil, errMalformed
		}
		end := min(i+8+padded, len(body))
		chunk := body[i:end]
		switch string(body[i : i+4]) {
		case "EXIF", "XMP ":
		case "VP8X":
			c := bytes.Clone(chunk)
			if len(c) > 8 {
				c[8] &^= 0x08 | 0x04 // EXIF and XMP flags
			}
			out = append(out, c...)
		default:
			out = append(out, chunk...)
		}
		i = end
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}

// Thumbnail decodes an image and scales it so its longer side is at most
// maxSide pixels (never up), as a JPEG. Transparent areas become white.
func Thumbnail(b []byte, contentType string, maxSide int) ([]byte, error) {
	var img image.Image
	var err error
	switch contentType {
	case JPEG:
		img, err = jpeg.Decode(bytes.NewReader(b))
	case PNG:
		img, err = png.Decode(bytes.NewReader(b))
	case WebP:
		img, err = webp.Decode(bytes.NewReader(b))
	default:
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	src := img.Bounds()
	w, h := src.Dx(), src.Dy()
	if w <= 0 || h <= 0 {
		return nil, ErrUnsupported
	}
	if w > maxSide || h > maxSide {
		if w >= h {
			w, h = maxSide, max(1, h*maxSide/src.Dx())
		} else {
			w, h = max(1, w*maxSide/src.Dy()), maxSide
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, src, xdraw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
