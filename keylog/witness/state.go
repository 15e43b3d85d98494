package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"
)

// StateFile holds, per origin, the latest checkpoint the witness cosigned.
// It is replaced atomically (write, fsync, rename, fsync the directory).
const StateFile = "witness-state.json"

const stateVersion = 1

// LogState is what the witness remembers of one log: the latest checkpoint
// it cosigned.
type LogState struct {
	Size uint64    `json:"size"`
	Root tlog.Hash `json:"root"`
	// Checkpoint is that checkpoint as it was submitted (signed by the log).
	Checkpoint string `json:"checkpoint"`
	// Cosigned is the Unix time of the latest cosignature.
	Cosigned int64 `json:"cosigned"`
}

type stateFile struct {
	Version int                 `json:"version"`
	Logs    map[string]LogState `json:"logs"`
}

func loadState(dir string) (map[string]LogState, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]LogState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", StateFile, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state file version %d, want %d", s.Version, stateVersion)
	}
	if s.Logs == nil {
		s.Logs = map[string]LogState{}
	}
	return s.Logs, nil
}

func saveState(dir string, logs map[string]LogState) error {
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, Logs: logs}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	path := filepath.Join(dir, StateFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace state: %w", err)
	}
	return syncDir(dir)
}
