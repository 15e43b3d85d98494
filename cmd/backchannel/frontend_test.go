package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"backchannel/server/api"
)

// frontEnd is the server's power to drop and hold, for scripts: clients
// whose profile names $FRONT fetch through it, and the script commands
// `withhold SENDER N` (hide the next N envelopes from SENDER) and `release`
// (deliver everything hidden, late) steer it.
type frontEnd struct {
	mu     sync.Mutex
	passed map[int64]bool
	hidden map[int64]bool
	next   map[string]int
}

func startFrontEnd(env *testscript.Env, target string) (*frontEnd, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	f := &frontEnd{passed: map[int64]bool{}, hidden: map[int64]bool{}, next: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method != http.MethodGet || r.Request.URL.Path != "/v1/messages" || r.StatusCode != http.StatusOK {
			return nil
		}
		raw, _ := io.ReadAll(r.Body)
		var fr api.FetchResponse
		if json.Unmarshal(raw, &fr) == nil {
			fr.Messages = f.filter(fr.Messages)
			raw, _ = json.Marshal(fr)
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		r.Header.Set("Content-Length", strconv.Itoa(len(raw)))
		return nil
	}
	ts := httptest.NewServer(proxy)
	env.Defer(ts.Close)
	env.Setenv("FRONT", ts.URL)
	env.Values[frontKey{}] = f
	return f, nil
}

type frontKey struct{}

func (f *frontEnd) filter(ms []api.Message) []api.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Message
	for _, m := range ms {
		switch {
		case f.hidden[m.ID]:
		case f.passed[m.ID]:
			out = append(out, m)
		case f.next[m.From] > 0:
			f.next[m.From]--
			f.hidden[m.ID] = true
		default:
			f.passed[m.ID] = true
			out = append(out, m)
		}
	}
	return out
}

var frontCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"withhold": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: withhold SENDER N")
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		f := ts.Value(frontKey{}).(*frontEnd)
		f.mu.Lock()
		f.next[args[0]] += n
		f.mu.Unlock()
	},
	"release": func(ts *testscript.TestScript, neg bool, args []string) {
		f := ts.Value(frontKey{}).(*frontEnd)
		f.mu.Lock()
		f.hidden = map[int64]bool{}
		f.mu.Unlock()
	},
}
