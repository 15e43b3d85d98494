package sessionrepair

import (
	"errors"
	"fmt"
	"time"

	"backchannel/ratchet"
)

// ErrNoSession: a plain message from a device this device has no session
// with (its session was lost, or the profile restored from an old copy).
// It counts as an envelope that does not decrypt.
var ErrNoSession = errors.New("no session with the sending device")

// FailureReason says in plain words why an envelope did not decrypt.
func FailureReason(err error) string {
	switch {
	case errors.Is(err, ErrNoSession):
		return "this device has no session with it any more"
	case errors.Is(err, ratchet.ErrKEMKey):
		return "it is encrypted to a key this device does not have"
	case errors.Is(err, ratchet.ErrAuth):
		return "it failed authentication: changed on the way, or not from this session"
	case errors.Is(err, ratchet.ErrTooManySkipped):
		return "too many messages before it are missing"
	default:
		return "it is malformed"
	}
}

// LostWords is the clause a notice ends with when n kept messages were
// dropped (MaxResend) and could not be sent again; empty for none.
func LostWords(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d older message(s) were no longer kept and could not be sent again", n)
}

// FirstFailureNotice tells the user that the first envelope of an episode
// from user's device did not decrypt, for reason.
func FirstFailureNotice(user string, device uint32, reason string) string {
	return fmt.Sprintf("A message from %s's device %d could not be decrypted (%s). It is kept; if more follow, the session with that device is started again and %s's device is asked to send its recent messages again.",
		user, device, reason, user)
}

// DiscardedNotice tells the user that an envelope from user's device that
// did not decrypt was discarded (repair gave up on the device).
func DiscardedNotice(user string, device uint32, reason string) string {
	return fmt.Sprintf("discarded a message from %s's device %d that could not be decrypted (%s)", user, device, reason)
}

// EpisodeOverNotice tells the user that n envelopes from user's device that
// did not decrypt were discarded, since later ones decrypt.
func EpisodeOverNotice(user string, device uint32, n int) string {
	return fmt.Sprintf("%d earlier message(s) from %s's device %d could not be decrypted and were discarded; later ones decrypt", n, user, device)
}

// ResentNotice tells the user that user's device answered this device's
// reset by sending ctl.Sent messages again; empty when it sent none and
// lost none.
func ResentNotice(user string, device uint32, ctl Control) string {
	if ctl.Sent == 0 && ctl.Lost == 0 {
		return ""
	}
	return fmt.Sprintf("%s's device %d sent %d message(s) again%s", user, device, ctl.Sent, LostWords(ctl.Lost))
}

// PeerResetNotice tells the user that user's device started its session
// with this device again, as ctl says. For a reset for Undecryptable, this
// device answered by sending sent of its kept messages again, lost being
// those it no longer kept.
func PeerResetNotice(user string, device uint32, ctl Control, sent, lost int) string {
	if ctl.Reason == Undecryptable {
		return fmt.Sprintf("%s's device %d could not decrypt %d of your messages and started a new session with this device; your recent messages to it were sent again (%d)%s.",
			user, device, ctl.Failed, sent, LostWords(lost))
	}
	return fmt.Sprintf("%s's device %d started a new session with this device: your device had not received its messages for a while (the server may have held them back). It sends them again (%d)%s.",
		user, device, ctl.Sent, LostWords(ctl.Lost))
}

// RestartNotice tells the user that this device started the session with
// h's device again for reason, sending sent kept messages again.
func (h *Health) RestartNotice(reason Reason, sent int) string {
	if reason == Undecryptable {
		return fmt.Sprintf("The session with %s's device %d was started again: %d message(s) from it could not be decrypted (%s). %s's device was asked to send its recent messages again; %d of yours were sent again%s.",
			h.User, h.Device, len(h.Failed), h.FailReason, h.User, sent, LostWords(h.Lost))
	}
	return fmt.Sprintf("Your messages to %s's device %d have not been received for over %d minutes although that device kept writing: the server may be holding them back (or the device does not fetch its messages). The session was started again and %d message(s) were sent again%s.",
		h.User, h.Device, int(BlockedAfter/time.Minute), sent, LostWords(h.Lost))
}

// GiveUpNotice tells the user that the session with h's device still
// fails after it was started again Resets times.
func (h *Health) GiveUpNotice() string {
	return fmt.Sprintf("Messages between you and %s's device %d still fail after the session was started again %d times: the server may be blocking them. Check with %s another way.", h.User, h.Device, h.Resets, h.User)
}
