package room

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Room names are chosen by each room's creator, so two rooms a member is
// in may carry the same name. A member's own rooms never do (CreateRoom
// and RenameRoom refuse a name taken by another room the member is in);
// a room someone else names like one of them is shown with its creator
// ("talks (bob's)"), and any room can be named by its id or an id prefix.

// Named is what naming needs of one room a member knows.
type Named struct {
	ID, Name, Creator string
	// Gone: this member is no longer in the room.
	Gone bool
}

// MinIDPrefix is the shortest id prefix that names a room.
const MinIDPrefix = 4

// Sentinel errors of Resolve.
var (
	ErrNoSuchRoom   = errors.New("no room has that name or id")
	ErrAmbiguousRef = errors.New("several rooms have that name")
)

// SameName says whether two room names read as the same name: equal once
// letter case is folded, runs of spaces are made one, and letters that look
// like Latin ones (Cyrillic а, Greek ο, fullwidth ａ ...) are read as those
// (names.Check has already refused invisible characters, other spaces and
// spaces at either end). A member who names a room "tаlks" with a Cyrillic
// а therefore cannot pass it off as someone's "talks": it is labelled with
// its creator like any room of the same name.
func SameName(a, b string) bool {
	return skeleton(strings.ToLower(squash(a))) == skeleton(strings.ToLower(squash(b)))
}

// lookalikes maps letters of other scripts to the Latin letter they are
// drawn like in common fonts: a subset of Unicode TR39's confusables for
// Cyrillic and Greek (fullwidth forms are folded separately).
var lookalikes = map[rune]rune{
	// Cyrillic
	'а': 'a', 'А': 'A', 'в': 'B', 'В': 'B', 'е': 'e', 'Е': 'E', 'ё': 'e', 'к': 'k', 'К': 'K',
	'м': 'M', 'М': 'M', 'н': 'H', 'Н': 'H', 'о': 'o', 'О': 'O', 'р': 'p', 'Р': 'P', 'с': 'c',
	'С': 'C', 'т': 'T', 'Т': 'T', 'у': 'y', 'У': 'Y', 'х': 'x', 'Х': 'X', 'і': 'i', 'І': 'I',
	'ї': 'i', 'ј': 'j', 'Ј': 'J', 'ѕ': 's', 'Ѕ': 'S', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'Ԝ': 'W',
	'ӏ': 'l', 'Ӏ': 'I', 'һ': 'h', 'ɡ': 'g', 'ь': 'b',
	// Greek
	'α': 'a', 'Α': 'A', 'β': 'B', 'Β': 'B', 'Ε': 'E', 'ε': 'e', 'Ζ': 'Z', 'Η': 'H', 'ι': 'i',
	'Ι': 'I', 'κ': 'k', 'Κ': 'K', 'Μ': 'M', 'ν': 'v', 'Ν': 'N', 'ο': 'o', 'Ο': 'O', 'ρ': 'p',
	'Ρ': 'P', 'τ': 't', 'Τ': 'T', 'υ': 'u', 'Υ': 'Y', 'χ': 'x', 'Χ': 'X', 'ω': 'w',
	// Latin letters drawn like others
	'ı': 'i', 'ℓ': 'l', 'ſ': 's',
}

// skeleton reads every look-alike letter as the Latin one, and fullwidth
// forms (U+FF01–FF5E) as their ASCII originals.
func skeleton(s string) string {
	return strings.Map(func(r rune) rune {
		if l, ok := lookalikes[r]; ok {
			return l
		}
		if r >= 0xFF01 && r <= 0xFF5E {
			r = r - 0xFF01 + '!'
		}
		return unicode.ToLower(r)
	}, s)
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// Taken returns the id of a room in rs, other than except, that this
// member is still in and whose name is the same as name (SameName), or "".
func Taken(rs []Named, name, except string) string {
	for _, r := range rs {
		if r.ID != except && !r.Gone && SameName(r.Name, name) {
			return r.ID
		}
	}
	return ""
}

// Labels returns how each room of rs is shown to me: its name when no
// other room of rs has the same name; otherwise, for a room someone else
// created, the name and its creator ("talks (bob's)"); and where that still
// leaves two rooms alike, an id prefix as well ("talks (bob's, 1a2b3c4d)").
func Labels(me string, rs []Named) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
		for j, o := range rs {
			if i != j && SameName(r.Name, o.Name) {
				if r.Creator != me {
					out[i] = fmt.Sprintf("%s (%s's)", r.Name, r.Creator)
				}
				break
			}
		}
	}
	first := slices.Clone(out)
	for i, r := range rs {
		for j := range rs {
			if i != j && SameName(first[i], first[j]) && (r.Creator != me || r.Gone) {
				suffix := r.ID[:min(8, len(r.ID))]
				if r.Creator != me {
					out[i] = fmt.Sprintf("%s (%s's, %s)", r.Name, r.Creator, suffix)
				} else {
					out[i] = fmt.Sprintf("%s (%s)", r.Name, suffix)
				}
				break
			}
		}
	}
	return out
}

// Resolve finds the room ref names among rs, in this order: its id; its
// label (Labels); its name (SameName), preferring a room this member is
// still in, then one this member created; an id prefix of at least
// MinIDPrefix characters. Errors match ErrNoSuchRoom or ErrAmbiguousRef
// and, when ambiguous, list the labels to choose from.
func Resolve(me string, rs []Named, ref string) (int, error) {
	for i, r := range rs {
		if r.ID == ref {
			return i, nil
		}
	}
	labels := Labels(me, rs)
	for i, l := range labels {
		if l == ref {
			return i, nil
		}
	}
	var named []int
	for i, r := range rs {
		if SameName(r.Name, ref) {
			named = append(named, i)
		}
	}
	named = prefer(named, func(i int) bool { return !rs[i].Gone })
	named = prefer(named, func(i int) bool { return rs[i].Creator == me })
	if len(named) == 1 {
		return named[0], nil
	}
	if len(named) > 1 {
		return -1, ambiguous(ref, named, labels)
	}
	var prefixed []int
	if len(ref) >= MinIDPrefix {
		for i, r := range rs {
			if strings.HasPrefix(r.ID, strings.ToLower(ref)) {
				prefixed = append(prefixed, i)
			}
		}
	}
	switch len(prefixed) {
	case 0:
		return -1, ErrNoSuchRoom
	case 1:
		return prefixed[0], nil
	}
	return -1, ambiguous(ref, prefixed, labels)
}

// prefer keeps the elements of is that keep holds for, if any do.
func prefer(is []int, keep func(int) bool) []int {
	var out []int
	for _, i := range is {
		if keep(i) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return is
	}
	return out
}

func ambiguous(ref string, is []int, labels []string) error {
	var ls []string
	for _, i := range is {
		ls = append(ls, `"`+labels[i]+`"`)
	}
	sort.Strings(ls)
	return fmt.Errorf("%w: %q could be %s; name one of them, or give its id", ErrAmbiguousRef, ref, strings.Join(ls, " or "))
}
