package eval

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"backchannel/audio"
	"backchannel/audiomark"
)

// loadSpeech builds the note from every recording of read speech in
// pocketsphinx-testdata, one after the other (about 41 s, several
// speakers).
func loadSpeech(dir string) (*audio.Clip, error) {
	install := "install Debian's pocketsphinx-testdata"
	note := &audio.Clip{Rate: audiomark.Rate}
	wavs, _ := filepath.Glob(filepath.Join(dir, "librivox", "*.wav"))
	cards, _ := filepath.Glob(filepath.Join(dir, "cards", "*.wav"))
	if len(wavs) == 0 {
		return nil, fmt.Errorf("no read speech in %s (%s)", dir, install)
	}
	for _, f := range append(wavs, cards...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c, err := audio.DecodeWAV(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		note.Samples = append(note.Samples, audio.Resample(c, audiomark.Rate).Samples...)
	}
	for _, name := range []string{"goforward.raw", "numbers.raw", "something.raw", "tidigits/dhd.2934z.raw"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, install)
		}
		for i := 0; i+1 < len(b); i += 2 {
			note.Samples = append(note.Samples, float32(int16(uint16(b[i])|uint16(b[i+1])<<8))/32768)
		}
	}
	return note, nil
}

// unrelatedText is spoken by espeak-ng for recordings the note does not
// contain.
const unrelatedText = `We can move on the delivery schedule if you can move on the price. Our board will not accept
a penalty clause above two per cent, and the warranty must run from acceptance, not from shipment.
If the second tranche slips past March, we would want the option to walk away without cost.
Send me the revised draft tonight and I will take it to the committee in the morning.`

// synthSpeech makes babble (four voices talking over each other) and one
// unrelated recording with espeak-ng.
func synthSpeech(ctx context.Context) (babble, unrelated *audio.Clip, err error) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		return nil, nil, fmt.Errorf("the audio evaluation needs espeak-ng for babble noise and unrelated speech (apt-get install espeak-ng): %w", err)
	}
	say := func(voice string, speed int) (*audio.Clip, error) {
		cmd := exec.CommandContext(ctx, "espeak-ng", "-v", voice, "-s", fmt.Sprint(speed), "--stdout", unrelatedText)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("espeak-ng: %v: %s", err, stderr.String())
		}
		c, err := audio.DecodeWAV(out.Bytes())
		if err != nil {
			return nil, fmt.Errorf("espeak-ng output: %w", err)
		}
		return audio.Resample(c, audiomark.Rate), nil
	}
	voices := []struct {
		v string
		s int
	}{{"en-us", 160}, {"en-gb", 140}, {"en-us+f3", 175}, {"en-gb+m3", 150}}
	var parts []*audio.Clip
	for _, v := range voices {
		c, err := say(v.v, v.s)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, c)
	}
	n := 0
	for _, p := range parts {
		n = max(n, len(p.Samples))
	}
	babble = &audio.Clip{Rate: audiomark.Rate, Samples: make([]float32, n)}
	for k, p := range parts {
		shift := k * n / len(parts) // each voice starts elsewhere in the text
		for i, v := range p.Samples {
			babble.Samples[(i+shift)%n] += v / float32(len(parts))
		}
	}
	return babble, parts[0], nil
}
