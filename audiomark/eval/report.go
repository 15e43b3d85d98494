package eval

import (
	"fmt"
	"strings"
)

// Markdown renders the report as the tables docs/benchmarks.md keeps.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Note: %.1f s of read speech, %d members, threshold z ≥ %.2f (ε = %.0e).\n\n", r.NoteSeconds, r.Members, r.Threshold, r.Epsilon)
	b.WriteString("| attack | clip | trials | leaker named | missed | other member named | mean z | min z | match | trace |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %g s | %d | %.1f%% | %d | %d | %.1f | %.1f | %.3f | %.0f ms |\n",
			row.Attack, row.Seconds, row.Trials, 100*float64(row.Named)/float64(max(row.Trials, 1)),
			row.Missed, row.Wrong, row.MeanZ, row.MinZ, row.Match, 1000*row.Elapsed)
	}
	fmt.Fprintf(&b, "\nNull trials (an innocent recipient scored against a leaked copy, at the threshold for %d members): %d, accusations %d, highest z %.2f; mean z %.3f, variance %.3f, %d at z ≥ 3 (%.3f%%).\n",
		r.Members, r.NullTrials, r.NullAccusations, r.NullMaxZ, r.NullMeanZ, r.NullVarZ, r.NullOver3, 100*float64(r.NullOver3)/float64(max(r.NullTrials, 1)))
	fmt.Fprintf(&b, "Unrelated recordings and the unmarked original: %d traced, %d matched the note wrongly, %d named a member.\n", r.Unrelated, r.UnrelatedMatched, r.UnrelatedNamed)
	q := r.Quality
	fmt.Fprintf(&b, "Mark level: segmental SNR %.1f dB (5th percentile %.1f dB) over %d speech frames; masking margin (Johnston) median %.1f dB, 5th percentile %.1f dB, %.1f%% of frame-bands under the threshold.\n",
		q.SegSNR, q.SegSNRP5, q.Frames, q.MarginMed, q.MarginP5, 100*q.MaskedShare)
	fmt.Fprintf(&b, "Embedding: %.0f× real time per recipient, one core.\n", r.EmbedRealtime)
	return b.String()
}
