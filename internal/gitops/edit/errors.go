package edit

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrMalformed means the input is not valid YAML.
	ErrMalformed = errors.New("malformed YAML")
	// ErrNotFound means the image entry, key or container to edit is absent.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported means the value is laid out in a way that cannot be
	// edited without reformatting (a block scalar, a multi-line flow
	// collection, a key reached through a merge key, ...).
	ErrUnsupported = errors.New("layout not supported for editing")
	// ErrShared means the value to edit sits under a YAML anchor that an
	// alias elsewhere refers to: editing it would change the other uses too.
	ErrShared = errors.New("value is shared through a YAML anchor")
	// ErrInvalidImage means the new image reference is not well formed.
	ErrInvalidImage = errors.New("invalid image reference")
)

// Error is an editing failure located in the input: the key (a path such as
// `images[name=api].digest` or `api.image.tag`) and, when known, the 1-based
// line. It wraps one of the sentinel errors.
type Error struct {
	Key  string
	Line int
	Err  error
}

// Error renders "key (line N): cause".
func (e *Error) Error() string {
	switch {
	case e.Key != "" && e.Line > 0:
		return fmt.Sprintf("%s (line %d): %v", e.Key, e.Line, e.Err)
	case e.Key != "":
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel cause.
func (e *Error) Unwrap() error { return e.Err }

func errAt(key string, line int, err error) error {
	return &Error{Key: key, Line: line, Err: err}
}
