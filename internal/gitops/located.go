package gitops

import "fmt"

// LocatedError is a failure tied to one service's image entry in one
// environment's manifest: it names the environment, the service and the
// file, so that callers need not wrap it again.
type LocatedError struct {
	Environment, Service, File string
	Err                        error
}

func (e *LocatedError) Error() string {
	return fmt.Sprintf("environment %s, service %s: %s: %v", e.Environment, e.Service, e.File, e.Err)
}

// Unwrap returns the underlying error.
func (e *LocatedError) Unwrap() error { return e.Err }
