package tui

import (
	"context"
	"errors"
	"fmt"
	"io"

	tea "charm.land/bubbletea/v2"
)

// Terminal is the caller's terminal, as the command layer reaches it (its
// own, or the one the agent forwards).
type Terminal struct {
	In  io.Reader
	Out io.Writer
	// Size is the terminal's size (0, 0 when unknown: 80×24 is assumed).
	Size func() (width, height int)
	// Resized receives when the size changed (nil: never).
	Resized <-chan struct{}
	// Raw switches the terminal to raw mode and back.
	Raw func(on bool) error
	// Term is the caller's TERM.
	Term string
}

// Run shows the screen on t until the user leaves (nil) or ctx ends
// (ctx.Err()).
func Run(ctx context.Context, b Backend, t Terminal, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if t.Raw != nil {
		if err := t.Raw(true); err != nil {
			return fmt.Errorf("set the terminal up for the chat: %w", err)
		}
		defer t.Raw(false)
	}
	m := New(ctx, b, opts)
	events, unsubscribe := b.Subscribe()
	defer unsubscribe()
	m.events = events
	w, h := 0, 0
	if t.Size != nil {
		w, h = t.Size()
	}
	if w <= 0 || h <= 0 {
		w, h = 80, 24
	}
	p := tea.NewProgram(m,
		tea.WithContext(ctx),
		tea.WithInput(t.In),
		tea.WithOutput(t.Out),
		tea.WithEnvironment([]string{"TERM=" + t.Term}),
		tea.WithoutSignalHandler(),
		tea.WithWindowSize(w, h),
	)
	if t.Resized != nil && t.Size != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case _, ok := <-t.Resized:
					if !ok {
						return
					}
					if w, h := t.Size(); w > 0 && h > 0 {
						p.Send(tea.WindowSizeMsg{Width: w, Height: h})
					}
				}
			}
		}()
	}
	_, err := p.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled):
		return ctx.Err()
	}
	return fmt.Errorf("the chat screen failed: %w", err)
}
