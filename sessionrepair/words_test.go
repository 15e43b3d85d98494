package sessionrepair

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"backchannel/ratchet"
)

func TestFailureReason(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{ErrNoSession, "this device has no session with it any more"},
		{fmt.Errorf("decrypt: %w", ratchet.ErrKEMKey), "it is encrypted to a key this device does not have"},
		{ratchet.ErrAuth, "it failed authentication: changed on the way, or not from this session"},
		{ratchet.ErrTooManySkipped, "too many messages before it are missing"},
		{errors.New("short header"), "it is malformed"},
	}
	for _, c := range cases {
		if got := FailureReason(c.err); got != c.want {
			t.Errorf("FailureReason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestLostWords(t *testing.T) {
	cases := []struct {
		n    int
		want string
	}{
		{0, ""},
		{1, "; 1 older message(s) were no longer kept and could not be sent again"},
		{12, "; 12 older message(s) were no longer kept and could not be sent again"},
	}
	for _, c := range cases {
		if got := LostWords(c.n); got != c.want {
			t.Errorf("LostWords(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// TestNotices: each notice names the device and the numbers it is about,
// in plain words.
func TestNotices(t *testing.T) {
	h := &Health{User: "bob", Device: 2, Failed: []int64{1, 2, 3}, FailReason: "it is malformed", Lost: 4, Resets: 2}
	cases := []struct {
		name string
		text string
		want []string
	}{
		{"first failure", FirstFailureNotice("bob", 2, "it is malformed"), []string{"bob's device 2", "(it is malformed)", "It is kept"}},
		{"discarded", DiscardedNotice("bob", 2, "it is malformed"), []string{"discarded a message from bob's device 2", "(it is malformed)"}},
		{"episode over", EpisodeOverNotice("bob", 2, 3), []string{"3 earlier message(s) from bob's device 2", "later ones decrypt"}},
		{"resent", ResentNotice("bob", 2, Control{Kind: KindResent, Sent: 5, Lost: 1}), []string{"bob's device 2 sent 5 message(s) again", "; 1 older"}},
		{"peer reset, undecryptable", PeerResetNotice("bob", 2, Control{Kind: KindReset, Reason: Undecryptable, Failed: 3, Sent: 9}, 6, 1), []string{"could not decrypt 3 of your messages", "sent again (6); 1 older"}},
		{"peer reset, unacknowledged", PeerResetNotice("bob", 2, Control{Kind: KindReset, Reason: Unacknowledged, Sent: 9, Lost: 2}, 6, 1), []string{"the server may have held them back", "again (9); 2 older"}},
		{"restart, undecryptable", h.RestartNotice(Undecryptable, 7), []string{"3 message(s) from it could not be decrypted (it is malformed)", "7 of yours were sent again; 4 older"}},
		{"restart, unacknowledged", h.RestartNotice(Unacknowledged, 7), []string{"for over 10 minutes", "7 message(s) were sent again; 4 older"}},
		{"give up", h.GiveUpNotice(), []string{"bob's device 2 still fail after the session was started again 2 times", "Check with bob another way."}},
	}
	for _, c := range cases {
		for _, w := range c.want {
			if !strings.Contains(c.text, w) {
				t.Errorf("%s: %q does not say %q", c.name, c.text, w)
			}
		}
	}
	if got := ResentNotice("bob", 2, Control{Kind: KindResent}); got != "" {
		t.Errorf("nothing resent, nothing lost: %q", got)
	}
}
