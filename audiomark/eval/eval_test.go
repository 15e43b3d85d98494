package eval

import (
	"context"
	"math"
	"os"
	"testing"

	"backchannel/audio"
	"backchannel/audiomark"
)

// TestQuickEvaluation runs a small evaluation end to end (real speech,
// ffmpeg's codecs and filters) and holds it to the targets that a
// few trials can show: every single attack named from 10 s, every chain
// from 30 s, nobody else ever named, the mark 25 dB under the speech and
// under the masking threshold.
func TestQuickEvaluation(t *testing.T) {
	rep, err := Run(context.Background(), Config{Quick: true, Trials: 3, Members: 3, Innocents: 20, Seed: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Markdown())
	for _, row := range rep.Rows {
		if row.Wrong != 0 {
			t.Errorf("%s, %g s: a member other than the leaker named in %d trials", row.Attack, row.Seconds, row.Wrong)
		}
		if row.Seconds == row.Target && row.Named != row.Trials {
			t.Errorf("%s, %g s: leaker named in %d of %d trials (mean z %.1f, min %.1f)", row.Attack, row.Seconds, row.Named, row.Trials, row.MeanZ, row.MinZ)
		}
	}
	if rep.NullTrials < 1000 || rep.NullAccusations != 0 {
		t.Errorf("null trials: %d accusations in %d", rep.NullAccusations, rep.NullTrials)
	}
	// An innocent's score is a Rademacher sum normalised to variance 1.
	if rep.NullVarZ < 0.8 || rep.NullVarZ > 1.2 || math.Abs(rep.NullMeanZ) > 0.15 {
		t.Errorf("null scores: mean %.3f, variance %.3f over %d; want about 0 and 1", rep.NullMeanZ, rep.NullVarZ, rep.NullTrials)
	}
	if rep.UnrelatedMatched != 0 || rep.UnrelatedNamed != 0 {
		t.Errorf("unrelated recordings: %d matched, %d named a member", rep.UnrelatedMatched, rep.UnrelatedNamed)
	}
	if q := rep.Quality; q.SegSNR < 25 || q.MaskedShare < 0.95 {
		t.Errorf("mark too loud: %+v", q)
	}
}

// TestBandWithoutDirectSound is the recording on which the full
// evaluation once panicked (speed +10%, a member's copy sped up with its
// pitch, 10 s): in one band the echo fit left no direct sound (gain 0),
// and the first tile's prediction was zero. Traced under a key that
// marked nothing, it must match the note and name nobody.
func TestBandWithoutDirectSound(t *testing.T) {
	note, err := loadSpeech("/usr/share/pocketsphinx/test/data")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/gain-zero-band.flac")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audio.DecodeFLAC(b)
	if err != nil {
		t.Fatal(err)
	}
	notes := []audiomark.Note{{ID: "note", Original: note, Recipients: []string{"a", "b"}}}
	res, err := audiomark.Trace(context.Background(), make([]byte, audiomark.KeySize), notes, rec, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Matched || len(res.Named) != 0 {
		t.Fatalf("matched %v, named %v", res.Matched, res.Named)
	}
}
