package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Frame types. The caller sends a request, then stdin, window sizes,
// secrets and interrupts; the agent sends output, prompts, terminal-mode
// switches, a request for stdin, and finally the exit status.
const (
	frameRequest   byte = 'R' // JSON Request
	frameStdin     byte = 'I' // bytes of the caller's stdin
	frameStdinEOF  byte = 'E' // the caller's stdin ended
	frameSize      byte = 'W' // JSON size of the caller's terminal
	frameSecret    byte = 'S' // the line typed at a prompt
	frameNoSecret  byte = 'X' // the prompt failed: text says why
	frameInterrupt byte = 'C' // the user pressed Ctrl-C

	frameStdout    byte = 'O'
	frameStderr    byte = 'e'
	frameNeedStdin byte = 'N' // the command reads stdin: start sending it
	framePrompt    byte = 'P' // prompt text: read a secret on the terminal
	frameRaw       byte = 'M' // "1": raw mode on, "0": off
	frameExit      byte = 'Q' // JSON exit status
)

// MaxFrame bounds one frame's payload, read before anything else about
// the peer is known.
const MaxFrame = 1 << 20

// ErrFrameTooLarge: a peer sent a frame over MaxFrame.
var ErrFrameTooLarge = errors.New("a message on the socket is too large")

func readFrame(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w (%d bytes)", ErrFrameTooLarge, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return h[0], b, nil
}

// frameWriter writes frames from several goroutines.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) write(t byte, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(b) > MaxFrame {
		if err := f.writeOne(t, b[:MaxFrame]); err != nil {
			return err
		}
		b = b[MaxFrame:]
	}
	return f.writeOne(t, b)
}

func (f *frameWriter) writeOne(t byte, b []byte) error {
	h := make([]byte, 5, 5+len(b))
	h[0] = t
	binary.BigEndian.PutUint32(h[1:], uint32(len(b)))
	_, err := f.w.Write(append(h, b...))
	return err
}

// stream is an io.Writer that sends what is written as frames of type t.
type stream struct {
	f *frameWriter
	t byte
}

func (s stream) Write(b []byte) (int, error) {
	if err := s.f.write(s.t, b); err != nil {
		return 0, err
	}
	return len(b), nil
}
