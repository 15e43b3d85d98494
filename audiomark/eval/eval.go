// Package eval measures the voice-note watermark on real speech: it marks a
// note for every member of a room, puts each copy through the attacks a
// leaked recording meets (codecs, resampling, speed and tempo changes,
// noise, a telephone band, and chains of these, driven by ffmpeg), traces
// excerpts from anywhere in the result, and counts how often the leaker is
// named, how often an innocent member is, and how the mark sounds
// (segmental SNR and a masking margin, quality.go).
//
// The speech is Debian's pocketsphinx-testdata (read speech, 16 kHz); the
// babble noise and the unrelated recordings are made with espeak-ng. Both
// packages and ffmpeg must be installed: a missing one is an error that
// says which to install, never a silently smaller run.
package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"time"

	"backchannel/audio"
	"backchannel/audiomark"
)

// Config chooses the size of a run.
type Config struct {
	Quick   bool
	Trials  int    // per attack and clip length (default 100, quick 6)
	Members int    // recipients of the note (default 8, quick 4)
	Seed    uint64 // excerpt offsets, noise, leakers
	// Innocents is how many extra recipients, never leakers, are scored in
	// every trial to count false accusations (default 50, quick 20).
	Innocents int
	Epsilon   float64
	SpeechDir string // default /usr/share/pocketsphinx/test/data
}

// Row is one attack at one clip length.
type Row struct {
	Attack  string  `json:"attack"`
	Seconds float64 `json:"seconds"`
	Trials  int     `json:"trials"`
	Named   int     `json:"named"`   // the leaker, and nobody else, named
	Missed  int     `json:"missed"`  // nobody named
	Wrong   int     `json:"wrong"`   // a member other than the leaker named
	MeanZ   float64 `json:"mean_z"`  // the leaker's mean score
	MinZ    float64 `json:"min_z"`   // the leaker's lowest score
	Match   float64 `json:"match"`   // mean envelope correlation of the alignment
	Elapsed float64 `json:"trace_s"` // mean seconds per trace
	// Target is the clip length at which the issue asks for the leaker to
	// be named in 99% of trials: 10 s after one attack, 30 s after a chain
	// (and after a room's echo, which the issue does not list).
	Target float64 `json:"target_seconds"`
}

// Report is a whole run.
type Report struct {
	NoteSeconds float64 `json:"note_seconds"`
	Members     int     `json:"members"`
	Threshold   float64 `json:"threshold"`
	Epsilon     float64 `json:"epsilon"`
	Rows        []Row   `json:"rows"`
	// Null trials: every (trial, innocent recipient) pair scored, and how
	// many reached the threshold.
	NullTrials      int     `json:"null_trials"`
	NullAccusations int     `json:"null_accusations"`
	NullMaxZ        float64 `json:"null_max_z"`
	// The null scores' mean and variance (0 and at most 1 under the
	// model), and how many reached 3 (the bound allows exp(−4.5) ≈ 1.1%;
	// a Gaussian has 0.13%).
	NullMeanZ float64 `json:"null_mean_z"`
	NullVarZ  float64 `json:"null_var_z"`
	NullOver3 int     `json:"null_over_3"`
	nullSum   float64
	nullSumSq float64
	// Unrelated recordings traced against the note: how many matched it
	// and how many named anyone.
	Unrelated        int     `json:"unrelated"`
	UnrelatedMatched int     `json:"unrelated_matched"`
	UnrelatedNamed   int     `json:"unrelated_named"`
	Quality          Quality `json:"quality"`
	// EmbedRealtime is how many times faster than real time one
	// recipient's copy is marked, on one core.
	EmbedRealtime float64 `json:"embed_realtime"`
}

// attack turns a recipient's whole copy into what leaked.
type attack struct {
	name    string
	ffmpeg  []string                                  // output arguments, or nil
	after   func(*rand.Rand, *audio.Clip) *audio.Clip // applied per trial after ffmpeg
	lengths []float64
	target  float64
}

func (cfg *Config) defaults() {
	if cfg.Trials == 0 {
		cfg.Trials = 100
		if cfg.Quick {
			cfg.Trials = 6
		}
	}
	if cfg.Members == 0 {
		cfg.Members = 8
		if cfg.Quick {
			cfg.Members = 4
		}
	}
	if cfg.Innocents == 0 {
		cfg.Innocents = 50
		if cfg.Quick {
			cfg.Innocents = 20
		}
	}
	if cfg.Epsilon == 0 {
		cfg.Epsilon = 1e-6
	}
	if cfg.SpeechDir == "" {
		cfg.SpeechDir = "/usr/share/pocketsphinx/test/data"
	}
}

func attacks(babble *audio.Clip) []attack {
	single := []float64{10}
	chain := []float64{10, 20, 30}
	white := func(rng *rand.Rand, c *audio.Clip) *audio.Clip { return addNoise(rng, c, nil, 20) }
	bab := func(rng *rand.Rand, c *audio.Clip) *audio.Clip { return addNoise(rng, c, babble, 20) }
	opus := func(k int) []string { return []string{"-c:a", "libopus", "-b:a", fmt.Sprintf("%dk", k), "-f", "ogg"} }
	rate := func(r int) []string {
		return []string{"-af", fmt.Sprintf("aresample=%d", r), "-c:a", "pcm_s16le", "-f", "wav"}
	}
	speed := func(v float64) []string {
		return []string{"-af", fmt.Sprintf("asetrate=%d,aresample=%d", int(math.Round(audiomark.Rate*v)), audiomark.Rate), "-f", "wav"}
	}
	tempo := func(v float64) []string { return []string{"-af", fmt.Sprintf("atempo=%g", v), "-f", "wav"} }
	return []attack{
		{name: "none", lengths: single},
		{name: "Opus 16 kbit/s", ffmpeg: opus(16), lengths: single},
		{name: "Opus 24 kbit/s", ffmpeg: opus(24), lengths: single},
		{name: "Opus 32 kbit/s", ffmpeg: opus(32), lengths: single},
		{name: "MP3 64 kbit/s", ffmpeg: []string{"-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"}, lengths: single},
		{name: "resampled to 8 kHz", ffmpeg: rate(8000), lengths: single},
		{name: "resampled to 22.05 kHz", ffmpeg: rate(22050), lengths: single},
		{name: "resampled to 44.1 kHz", ffmpeg: rate(44100), lengths: single},
		{name: "speed +5% (pitch up)", ffmpeg: speed(1.05), lengths: single},
		{name: "speed -5% (pitch down)", ffmpeg: speed(0.95), lengths: single},
		{name: "speed +10% (pitch up)", ffmpeg: speed(1.10), lengths: single},
		{name: "speed -10% (pitch down)", ffmpeg: speed(0.90), lengths: single},
		{name: "tempo +5%", ffmpeg: tempo(1.05), lengths: single},
		{name: "tempo -5%", ffmpeg: tempo(0.95), lengths: single},
		{name: "tempo +10%", ffmpeg: tempo(1.10), lengths: single},
		{name: "tempo -10%", ffmpeg: tempo(0.90), lengths: single},
		{name: "white noise 20 dB", after: white, lengths: single},
		{name: "babble noise 20 dB", after: bab, lengths: single},
		{name: "telephone band 300-3400 Hz", ffmpeg: []string{"-af", "highpass=f=300,highpass=f=300,lowpass=f=3400,lowpass=f=3400", "-f", "wav"}, lengths: single},
		{name: "room echo (40 and 90 ms reflections)", ffmpeg: []string{"-af", "aecho=0.8:0.7:40|90:0.4|0.25", "-f", "wav"}, lengths: chain, target: 30},
		{name: "Opus 16 + white noise 20 dB", ffmpeg: opus(16), after: white, lengths: chain, target: 30},
		{name: "MP3 64 + 22.05 kHz + speed +5%", ffmpeg: []string{"-af", fmt.Sprintf("asetrate=%d,aresample=22050", int(math.Round(audiomark.Rate*1.05))), "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"}, lengths: chain, target: 30},
		{name: "Opus 16 + tempo -10% + babble 20 dB", ffmpeg: []string{"-af", "atempo=0.9", "-c:a", "libopus", "-b:a", "16k", "-f", "ogg"}, after: bab, lengths: chain, target: 30},
	}
}

// Run performs the evaluation.
func Run(ctx context.Context, cfg Config, progress func(done, total int)) (*Report, error) {
	cfg.defaults()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, fmt.Errorf("the audio evaluation needs ffmpeg (apt-get install ffmpeg): %w", err)
	}
	note, err := loadSpeech(cfg.SpeechDir)
	if err != nil {
		return nil, err
	}
	babble, unrelated, err := synthSpeech(ctx)
	if err != nil {
		return nil, err
	}
	key := make([]byte, audiomark.KeySize)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xa0d10))
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	members := make([]string, cfg.Members)
	for i := range members {
		members[i] = fmt.Sprintf("member%02d", i+1)
	}
	rep := &Report{NoteSeconds: note.Seconds(), Members: cfg.Members, Epsilon: cfg.Epsilon,
		Threshold: math.Sqrt(2 * math.Log(float64(cfg.Members)/cfg.Epsilon))}

	copies := make([]*audio.Clip, len(members))
	start := time.Now()
	for i, m := range members {
		if copies[i], err = audiomark.Mark(key, "note", m, note); err != nil {
			return nil, err
		}
	}
	rep.EmbedRealtime = note.Seconds() * float64(len(members)) / time.Since(start).Seconds()
	rep.Quality = measureQuality(note, copies)

	innocents := make([]string, cfg.Innocents)
	for i := range innocents {
		innocents[i] = fmt.Sprintf("innocent%03d", i+1)
	}
	notes := []audiomark.Note{{ID: "note", Original: note, Recipients: slices.Concat(members, innocents)}}
	atk := attacks(babble)
	total := 0
	for _, a := range atk {
		total += len(a.lengths) * cfg.Trials
	}
	done := 0
	for _, a := range atk {
		leaked := make([]*audio.Clip, len(copies))
		for i, c := range copies {
			if a.ffmpeg == nil {
				leaked[i] = c
				continue
			}
			if leaked[i], err = through(ctx, c, a.ffmpeg); err != nil {
				return nil, fmt.Errorf("%s: %w", a.name, err)
			}
		}
		for _, secs := range a.lengths {
			row := Row{Attack: a.name, Seconds: secs, MinZ: math.Inf(1), Target: a.target}
			if row.Target == 0 {
				row.Target = 10
			}
			for t := 0; t < cfg.Trials; t++ {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				li := rng.IntN(len(members))
				rec := leaked[li]
				if a.after != nil {
					rec = a.after(rng, rec)
				}
				rec = randomExcerpt(rng, rec, secs)
				t0 := time.Now()
				res, err := audiomark.Trace(ctx, key, notes, rec, cfg.Epsilon)
				if err != nil {
					return nil, fmt.Errorf("%s, %g s: %w", a.name, secs, err)
				}
				row.Elapsed += time.Since(t0).Seconds()
				row.Trials++
				row.Match += res.Align.Match
				named, wrong, z := judge(res, members[li], rep.Threshold, innocents, rep)
				row.MeanZ += z
				row.MinZ = math.Min(row.MinZ, z)
				switch {
				case wrong:
					row.Wrong++
				case named:
					row.Named++
				default:
					row.Missed++
				}
				done++
				if progress != nil {
					progress(done, total)
				}
			}
			n := float64(row.Trials)
			row.MeanZ, row.Match, row.Elapsed = row.MeanZ/n, row.Match/n, row.Elapsed/n
			rep.Rows = append(rep.Rows, row)
		}
	}
	// Unrelated recordings: synthetic speech the note does not contain,
	// alone and with noise, and the original itself.
	for i := 0; i < max(4, cfg.Trials/5); i++ {
		for _, u := range []struct {
			rec      *audio.Clip
			fromNote bool
		}{
			{randomExcerpt(rng, unrelated, 10), false},
			{addNoise(rng, randomExcerpt(rng, unrelated, 10), nil, 20), false},
			{randomExcerpt(rng, note, 10), true}, // the unmarked original
		} {
			res, err := audiomark.Trace(ctx, key, notes, u.rec, cfg.Epsilon)
			if err != nil {
				return nil, fmt.Errorf("unrelated recording: %w", err)
			}
			rep.Unrelated++
			if res.Matched && !u.fromNote {
				rep.UnrelatedMatched++
			}
			judge(res, "", rep.Threshold, innocents, rep)
			if namedAny(res, rep.Threshold, members) {
				rep.UnrelatedNamed++
			}
		}
	}
	if n := float64(rep.NullTrials); n > 1 {
		rep.NullMeanZ = rep.nullSum / n
		rep.NullVarZ = (rep.nullSumSq - n*rep.NullMeanZ*rep.NullMeanZ) / (n - 1)
	}
	return rep, nil
}

// judge reads a trace: whether the leaker alone was named among the
// members, whether another member was, and the leaker's score; it counts
// the innocents' scores as null trials.
func judge(res *audiomark.Result, leaker string, tau float64, innocents []string, rep *Report) (named, wrong bool, z float64) {
	isInnocent := map[string]bool{}
	for _, s := range innocents {
		isInnocent[s] = true
	}
	for _, s := range res.Scores {
		switch {
		case isInnocent[s.Recipient]:
			rep.NullTrials++
			rep.NullMaxZ = math.Max(rep.NullMaxZ, s.Z)
			rep.nullSum += s.Z
			rep.nullSumSq += s.Z * s.Z
			if s.Z >= 3 {
				rep.NullOver3++
			}
			if s.Z >= tau {
				rep.NullAccusations++
			}
		case s.Recipient == leaker:
			z = s.Z
			named = s.Z >= tau
		case s.Z >= tau:
			wrong = true
		}
	}
	return named, wrong, z
}

func namedAny(res *audiomark.Result, tau float64, members []string) bool {
	for _, s := range res.Scores {
		if s.Z >= tau && slices.Contains(members, s.Recipient) {
			return true
		}
	}
	return false
}

func randomExcerpt(rng *rand.Rand, c *audio.Clip, secs float64) *audio.Clip {
	n := int(secs * float64(c.Rate))
	if n >= len(c.Samples) {
		return c
	}
	from := rng.IntN(len(c.Samples) - n)
	return &audio.Clip{Rate: c.Rate, Samples: c.Samples[from : from+n]}
}

// addNoise adds white noise, or a random stretch of noise, at snrDB below
// the clip's level.
func addNoise(rng *rand.Rand, c *audio.Clip, noise *audio.Clip, snrDB float64) *audio.Clip {
	out := &audio.Clip{Rate: c.Rate, Samples: make([]float32, len(c.Samples))}
	level := c.RMS() / math.Pow(10, snrDB/20)
	if noise == nil {
		for i, v := range c.Samples {
			out.Samples[i] = v + float32(rng.NormFloat64()*level)
		}
		return out
	}
	scale := level / math.Max(noise.RMS(), 1e-9)
	from := rng.IntN(max(1, len(noise.Samples)-len(c.Samples)))
	for i, v := range c.Samples {
		out.Samples[i] = v + float32(scale*float64(noise.Samples[(from+i)%len(noise.Samples)]))
	}
	return out
}

// through passes a clip through ffmpeg (audio.Through) and brings the
// result back to audiomark.Rate.
func through(ctx context.Context, c *audio.Clip, args []string) (*audio.Clip, error) {
	d, err := audio.Through(ctx, c, args)
	if err != nil {
		return nil, err
	}
	return audio.Resample(d, audiomark.Rate), nil
}
