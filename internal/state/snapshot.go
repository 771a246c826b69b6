package state

import (
	"encoding/json"
	"fmt"
	"os"
)

// Snapshot is the state file as one run read it, once, before writing
// anything: the file's repository-relative path, the GitOps commit it was
// read at and its content. A run hands it to every later step, so that all
// of them decide on the same denylist.
type Snapshot struct {
	File    string `json:"file"`
	Commit  string `json:"commit,omitempty"`
	Content string `json:"content"`
}

// Snapshot returns the state as read, for later steps of the same run.
func (s *State) Snapshot(commit string) Snapshot {
	return Snapshot{File: s.file, Commit: commit, Content: string(s.before)}
}

// State parses the snapshot.
func (sn Snapshot) State() (*State, error) { return Parse(sn.File, []byte(sn.Content)) }

// ReadSnapshot reads a snapshot written as JSON by WriteSnapshot and parses
// the state in it.
func ReadSnapshot(file string) (*State, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the state snapshot: %w", err)
	}
	var sn Snapshot
	if err := json.Unmarshal(b, &sn); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", file, ErrInvalid, err)
	}
	if sn.File == "" {
		return nil, fmt.Errorf("%s: %w: the snapshot names no state file", file, ErrInvalid)
	}
	return sn.State()
}

// DenyReason says why digest may not be used, when the denylist holds it:
// "sha256:... is denylisted in <file> (reason, by, at)".
func (s *State) DenyReason(digest string) (string, bool) {
	d, ok := s.Denylisted(digest)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%s is denylisted in %s (%s)", digest, s.file, describe(d.Reason, d.By, d.At)), true
}
