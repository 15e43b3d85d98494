package keylog

import (
	"strconv"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
)

// Kinds of public log resources (C2SP tlog-tiles).
const (
	ResourceCheckpoint = iota + 1
	ResourceTile
	ResourceEntries
)

// PublicPath checks p, a path under the log's public prefix ("checkpoint",
// "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]"), against the C2SP
// tlog-tiles grammar in canonical form, and returns it as a relative file
// path (slash-separated, only digits, "x", ".p" and "/"), its kind, and
// whether it is a partial resource. Anything else, including every path
// with "..", an empty segment or a non-canonical number, is refused: the
// result is safe to join to the public directory.
func PublicPath(p string) (path string, kind int, partial bool, ok bool) {
	if p == layout.CheckpointPath {
		return p, ResourceCheckpoint, false, true
	}
	rest, found := strings.CutPrefix(p, "tile/")
	if !found || len(p) > 64 {
		return "", 0, false, false
	}
	segs := strings.Split(rest, "/")
	kind = ResourceTile
	var level uint64
	if segs[0] == "entries" {
		kind = ResourceEntries
	} else {
		v, err := strconv.ParseUint(segs[0], 10, 8)
		if err != nil || v > 63 {
			return "", 0, false, false
		}
		level = v
	}
	segs = segs[1:]
	var n uint64
	var width uint64
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		last := false
		if strings.HasPrefix(s, "x") {
			s = s[1:]
		} else {
			last = true
		}
		digits, isPartial := strings.CutSuffix(s, ".p")
		if len(digits) != 3 || (isPartial && !last) || strings.Trim(digits, "0123456789") != "" {
			return "", 0, false, false
		}
		d, _ := strconv.ParseUint(digits, 10, 16)
		if n > (1<<64-1-d)/1000 {
			return "", 0, false, false
		}
		n = n*1000 + d
		if !last {
			continue
		}
		switch {
		case !isPartial && i == len(segs)-1:
		case isPartial && i == len(segs)-2:
			w, err := strconv.ParseUint(segs[i+1], 10, 8)
			if err != nil || w == 0 {
				return "", 0, false, false
			}
			width, partial = w, true
		default:
			return "", 0, false, false
		}
		var want string
		if kind == ResourceEntries {
			want = layout.EntriesPath(n, uint8(width))
		} else {
			want = layout.TilePath(level, n, uint8(width))
		}
		if want != p { // canonical form only (no leading zeros, no extra groups)
			return "", 0, false, false
		}
		return p, kind, partial, true
	}
	return "", 0, false, false
}
