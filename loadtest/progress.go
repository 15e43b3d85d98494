package loadtest

import (
	"sync"
	"sync/atomic"
	"time"
)

// Progress is one progress update. Done counts toward Total within the
// current phase of the current run; Total may be 0 for phases of unknown
// length.
type Progress struct {
	Run     string        `json:"run"`   // e.g. "shape", "scale-100", "idle"
	Phase   string        `json:"phase"` // e.g. "register", "sessions", "send", "deliver", "connect", "hold"
	Done    int64         `json:"done"`
	Total   int64         `json:"total"`
	Elapsed time.Duration `json:"elapsed"` // since the phase began
}

// ProgressFunc receives progress updates. Calls are serialised (never
// concurrent) and come from goroutines of the load tool; the function must
// return quickly.
type ProgressFunc func(Progress)

// reporter emits periodic progress for one phase.
type reporter struct {
	mu sync.Mutex // serialises calls to fn
	fn ProgressFunc
}

func newReporter(fn ProgressFunc) *reporter { return &reporter{fn: fn} }

func (r *reporter) emit(p Progress) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(p)
}

// phase starts reporting a phase: it emits an update now, every 250 ms and
// when the returned end function is called.
func (r *reporter) phase(run, name string, total int64, done *atomic.Int64) (end func()) {
	start := time.Now()
	snap := func() Progress {
		return Progress{Run: run, Phase: name, Done: done.Load(), Total: total, Elapsed: time.Since(start)}
	}
	r.emit(snap())
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.emit(snap())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-finished
			r.emit(snap())
		})
	}
}
