package eval

import (
	"context"
	"testing"
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
	if rep.UnrelatedMatched != 0 || rep.UnrelatedNamed != 0 {
		t.Errorf("unrelated recordings: %d matched, %d named a member", rep.UnrelatedMatched, rep.UnrelatedNamed)
	}
	if q := rep.Quality; q.SegSNR < 25 || q.MaskedShare < 0.95 {
		t.Errorf("mark too loud: %+v", q)
	}
}
