// Package names is the rule for strings that other people choose and this
// device shows as names: document names, room names, device names and the
// short texts of notices. They come from the network, so they may try to
// attack the terminal that prints them (escape sequences that clear the
// screen or draw a fake line, a newline that starts a line of their own) or
// the reader (a right-to-left override that turns "invoice‮fdp.exe" into
// what looks like "invoiceexe.pdf", invisible characters, look-alike
// spaces, a name long enough to push everything else off the screen).
//
// Check is the acceptance rule, applied on receipt: a name that fails it is
// refused, never shown. Quote renders any string for one terminal line,
// escaping what Check would refuse, for what was stored before the rule or
// comes from elsewhere. FileName turns a name into a file name that is safe
// to create. The rule is written down in docs/protocol.md section 13,
// "Names from the network".
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCombining bounds a run of combining marks after one character: more
// stack into a tall smear that overwrites the lines above and below.
const MaxCombining = 4

// ErrName is the sentinel every Check failure matches.
var ErrName = errors.New("not an acceptable name")

// forbidden reports whether r may never appear in a name: control
// characters (C0, DEL, C1), format characters (bidirectional embeddings,
// overrides and isolates U+202A–U+202E and U+2066–U+2069, marks such as
// U+200E, zero-width characters U+200B–U+200D and U+2060, the byte order
// mark, the soft hyphen, tag characters), line and paragraph separators,
// every space other than U+0020, private-use characters and U+FFFD (what
// invalid UTF-8 decodes to).
func forbidden(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r == utf8.RuneError:
		return true
	case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r),
		unicode.Is(unicode.Zs, r), unicode.Is(unicode.Co, r), unicode.IsSpace(r):
		return true
	case r == '\u180E' || r == '\u3164' || r == '\u115F' || r == '\u1160' || r == '\uFFA0':
		// Mongolian vowel separator and Hangul fillers: blank, not spaces.
		return true
	}
	return false
}

// describe names a forbidden character in plain words.
func describe(r rune) string {
	switch {
	case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
		return fmt.Sprintf("a line break (U+%04X)", r)
	case r == '\x1b':
		return "a terminal escape (U+001B)"
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return fmt.Sprintf("a text direction control (U+%04X), which can make a name read as something else", r)
	case r == utf8.RuneError:
		return "bytes that are not UTF-8"
	case unicode.IsControl(r):
		return fmt.Sprintf("a control character (U+%04X)", r)
	case unicode.Is(unicode.Zs, r) || unicode.IsSpace(r):
		return fmt.Sprintf("a space other than the plain one (U+%04X)", r)
	}
	return fmt.Sprintf("an invisible character (U+%04X)", r)
}

// Check accepts s as a name of at most maxBytes bytes: valid UTF-8, not
// empty, no forbidden character (see forbidden), no space at either end,
// at most MaxCombining combining marks in a row. Errors match ErrName and
// say what is wrong in plain words.
func Check(s string, maxBytes int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: it is empty", ErrName)
	case len(s) > maxBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrName, len(s), maxBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: it holds bytes that are not UTF-8", ErrName)
	case s[0] == ' ' || s[len(s)-1] == ' ':
		return fmt.Errorf("%w: it starts or ends with a space", ErrName)
	}
	marks := 0
	for i, r := range s {
		if forbidden(r) {
			return fmt.Errorf("%w: it holds %s at byte %d", ErrName, describe(r), i)
		}
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) {
			if marks++; marks > MaxCombining || i == 0 {
				return fmt.Errorf("%w: it holds a pile of combining marks at byte %d", ErrName, i)
			}
		} else {
			marks = 0
		}
	}
	return nil
}

// Quote renders s for one terminal line: every character Check forbids is
// shown as a visible escape (\x1b, \n, \u202e, \U000e0041; bytes that are
// not UTF-8 as \xff), combining marks beyond MaxCombining in a row are
// dropped, and a string of more than maxRunes characters is cut and ends
// in "…" (maxRunes ≤ 0: no limit). The result holds no control, format or
// line-breaking character, whatever s is.
func Quote(s string, maxRunes int) string {
	var b strings.Builder
	n, marks := 0, 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if maxRunes > 0 && n >= maxRunes {
			b.WriteString("…")
			break
		}
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
			marks = 0
		case r == '\n':
			b.WriteString(`\n`)
			marks = 0
		case r == '\t':
			b.WriteString(`\t`)
			marks = 0
		case r < 0x80 && forbidden(r):
			fmt.Fprintf(&b, `\x%02x`, r)
			marks = 0
		case forbidden(r) && r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
			marks = 0
		case forbidden(r):
			fmt.Fprintf(&b, `\U%08x`, r)
			marks = 0
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
			if marks++; marks <= MaxCombining {
				b.WriteRune(r)
			}
		default:
			b.WriteRune(r)
			marks = 0
		}
		i += size
		n++
	}
	return b.String()
}

// MaxFileName bounds a file name in bytes (most file systems' limit).
const MaxFileName = 255

// FileName turns a name someone else chose into a file name that is safe to
// create in a directory and reads as what it is: forbidden characters
// removed (so a right-to-left override cannot hide the real extension),
// other spaces and runs of spaces made one plain space, path separators and
// characters that some systems refuse (: * ? " < > |) made "_", a path
// reduced to its last element (after the last / or \), no dot
// or space at either end (no hidden file, no "." or "..", no name that
// Windows silently shortens), no leading "-" (not an option to a later
// command), no reserved device name (CON, NUL, COM1, ...), at most
// MaxFileName bytes with the extension kept; "document" if nothing is left.
func FileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:] // a path: its last element
	}
	var b strings.Builder
	space := false
	for _, r := range name {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r) || r == '\u2028' || r == '\u2029':
			space = true
			continue
		case forbidden(r):
			continue
		case strings.ContainsRune(`\/:*?"<>|`, r):
			r = '_'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := strings.Trim(b.String(), " .")
	if strings.HasPrefix(out, "-") {
		out = "_" + out[1:]
	}
	if reserved(out) {
		out = "_" + out
	}
	if len(out) > MaxFileName {
		out = shorten(out, MaxFileName)
	}
	if out == "" {
		return "document"
	}
	return out
}

// reserved reports Windows device names, which refer to a device whatever
// the extension.
func reserved(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '1' && base[3] <= '9' {
		return true
	}
	return false
}

// shorten cuts name to max bytes on a character boundary, keeping an
// extension of up to 16 bytes.
func shorten(name string, max int) string {
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		name, ext = name[:i], name[i:]
	}
	for len(name)+len(ext) > max {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return strings.TrimRight(name, " .") + ext
}
