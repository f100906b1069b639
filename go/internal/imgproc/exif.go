package imgproc

import "encoding/binary"

// Orientation is the EXIF orientation (1..8) of an encoded image: a JPEG's tag, else 1
// (upright; PNG orientation is not read, as cv2.imdecode does not).
func Orientation(b []byte) int {
	if Sniff(b) != JPEG {
		return 1
	}
	return jpegOrientation(b)
}

// jpegOrientation returns the EXIF orientation (1..8) of a JPEG, or 1 when it has none.
// cv2.imdecode applies it (unless IMREAD_IGNORE_ORIENTATION), so the decoder does too.
func jpegOrientation(b []byte) int {
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) {
			i += 2
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // scan data or end: no EXIF before it
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		if seg := b[i+4 : i+2+n]; marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of IFD0 of a TIFF header.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for k := 0; k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// orient applies an EXIF orientation as OpenCV's ApplyExifOrientation does.
func orient(m *Image, o int) {
	if o <= 1 || o > 8 {
		return
	}
	if o >= 5 {
		transpose(m)
	}
	switch o {
	case 2, 6:
		FlipH(m)
	case 3, 7:
		FlipH(m)
		flipV(m)
	case 4, 8:
		flipV(m)
	}
}

// transposeScratch keeps transpose from allocating per image.
var transposeScratch = newFreeList(16, func() *Image { return new(Image) })

func transpose(m *Image) {
	t := transposeScratch.get()
	defer transposeScratch.put(t)
	t.Reshape(m.H, m.W, m.C)
	c := m.C
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			copy(t.Pix[(x*t.W+y)*c:(x*t.W+y)*c+c], m.Pix[(y*m.W+x)*c:(y*m.W+x)*c+c])
		}
	}
	m.W, m.H = t.W, t.H
	copy(m.Pix, t.Pix)
}

func flipV(m *Image) {
	for y0, y1 := 0, m.H-1; y0 < y1; y0, y1 = y0+1, y1-1 {
		a, b := m.Row(y0), m.Row(y1)
		for i := range a {
			a[i], b[i] = b[i], a[i]
		}
	}
}
