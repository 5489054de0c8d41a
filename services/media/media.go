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
	// ErrTooLarge means an image has more pixels than a phone photo would,
	// or would take more memory to decode than one (a decompression bomb,
	// say).
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
	// MaxDecodedBytes caps the memory decoding one image may take. A pixel
	// count alone lets a small 16-bit RGBA PNG cost 8 bytes a pixel; this
	// still admits a 48-megapixel phone JPEG (8000x6000 at 3 bytes a pixel
	// is 144 MB) and an 8-bit RGBA PNG of the same size (192 MB), but not
	// a 7071x7071 16-bit RGBA PNG (400 MB).
	MaxDecodedBytes = 256 << 20
)

// Info is what Inspect learned about a file.
type Info struct {
	ContentType string
	Width       int
	Height      int
	// DecodedBytes is a conservative estimate of the memory decoding the
	// image takes (0 for a PDF), so callers can budget concurrent decodes.
	DecodedBytes int64
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
	size := decodedBytes(b, ct, cfg)
	if size > MaxDecodedBytes {
		return Info{}, fmt.Errorf("%w: decoding takes about %d MB", ErrTooLarge, size>>20)
	}
	return Info{ContentType: ct, Width: cfg.Width, Height: cfg.Height, DecodedBytes: size}, nil
}

// decodedBytes estimates, erring high, the peak memory the standard
// decoders take for an image whose header b has already passed
// DecodeConfig: the decoded image plus what the decoder holds beside it.
func decodedBytes(b []byte, contentType string, cfg image.Config) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	size := px * bytesPerPixel(cfg.ColorModel)
	switch contentType {
	case JPEG:
		// A progressive JPEG keeps every DCT coefficient (64 int32 per 8x8
		// block, so 4 bytes a sample) until the last scan; baseline ones
		// decode block by block.
		if cfg.ColorModel == color.RGBAModel {
			// An RGB JPEG is decoded as YCbCr-shaped planes first.
			size += px * 3
		}
		if f, ok := jpegFrame(b); ok && f.progressive {
			for _, c := range f.comps {
				size += px * 4 * int64(c.h*c.v) / int64(f.hmax*f.vmax)
			}
		} else if !ok {
			size += px * 4 * 3
		}
	case PNG:
		// An interlaced PNG is decoded pass by pass into images the size
		// of the pass (at most half the image) and then copied over.
		if len(b) > 28 && b[28] != 0 {
			size += size / 2
		}
	case WebP:
		// Lossless WebP (the NRGBA one) decodes to 32-bit ARGB words first
		// and converts them to NRGBA after, so both are held at once.
		if cfg.ColorModel == color.NRGBAModel {
			size += px * 4
		}
	}
	return size
}

// bytesPerPixel is what one pixel of an image in color model m takes once
// decoded, rounded up; models it does not know count as 8, the most any
// standard decoder uses.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		// 1.5 for 4:2:0 up to 3 for 4:4:4; the header does not say which
		// without parsing further, so assume the worst.
		return 3
	case color.NYCbCrAModel:
		return 4
	case color.RGBAModel, color.NRGBAModel:
		return 4
	case color.CMYKModel:
		// A CMYK or YCCK JPEG is decoded as YCbCr plus a black channel and
		// then converted to a 4-byte CMYK image.
		return 8
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// jpegComp is one component of a JPEG frame: its sampling factors.
type jpegComp struct{ h, v int }

// jpegFrameInfo is what the start-of-frame segment of a JPEG says about
// the memory decoding takes.
type jpegFrameInfo struct {
	progressive bool
	comps       []jpegComp
	hmax, vmax  int
}

// jpegFrame finds the start-of-frame segment of a JPEG and reads whether
// it is progressive and how its components are sampled; ok is false when
// there is none before the image data.
func jpegFrame(b []byte) (f jpegFrameInfo, ok bool) {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return f, false
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0x01 || marker >= 0xD0 && marker <= 0xD7 {
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) || marker == 0xDA || marker == 0xD9 {
			return f, false
		}
		// SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC).
		if marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
			seg := b[i+4 : i+2+n]
			if len(seg) < 6 {
				return f, false
			}
			nc := int(seg[5])
			if nc == 0 || len(seg) < 6+3*nc {
				return f, false
			}
			f.progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE
			f.hmax, f.vmax = 1, 1
			for c := range nc {
				hv := seg[6+3*c+1]
				h, v := max(1, int(hv>>4)), max(1, int(hv&0x0F))
				f.comps = append(f.comps, jpegComp{h, v})
				f.hmax, f.vmax = max(f.hmax, h), max(f.vmax, v)
			}
			return f, true
		}
		i += 2 + n
	}
	return f, false
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
