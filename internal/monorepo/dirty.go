package monorepo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Change is one path that differs from the commit.
type Change struct {
	// Path is relative to the repository root; a directory for Staged.
	Path string `json:"path"`
	// State is one of Modified, Deleted, Untracked or Staged.
	State string `json:"state"`
}

func (c Change) String() string { return c.State + " " + c.Path }

// Change states.
const (
	Modified  = "modified"
	Deleted   = "deleted"
	Untracked = "untracked"
	Staged    = "staged"
)

// ErrNoIndex means the source has no readable git index to compare with.
var ErrNoIndex = errors.New("no git index in the source (.git/index)")

// DescribeChanges renders changes for an error message, at most max lines.
func DescribeChanges(changes []Change, max int) string {
	var b strings.Builder
	for i, c := range changes {
		if i == max {
			b.WriteString("  … and " + strconv.Itoa(len(changes)-max) + " more\n")
			break
		}
		fmt.Fprintf(&b, "  %-9s %s\n", c.State, c.Path)
	}
	return b.String()
}
