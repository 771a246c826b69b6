package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors that callers branch on with errors.Is. Every error returned
// by a Client method that comes from the registry wraps exactly one of them,
// inside an *Error that names the operation and the reference.
var (
	// ErrNotFound: the repository, tag, digest or blob does not exist
	// (HTTP 404, or MANIFEST_UNKNOWN / NAME_UNKNOWN / BLOB_UNKNOWN).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry refused the credentials, or none were
	// given where some are needed (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credentials were accepted but do not grant the
	// operation on this repository (HTTP 403, DENIED).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: the registry rejected the request as malformed (HTTP 400,
	// other 4xx), e.g. an invalid manifest, tag or digest.
	ErrInvalid = errors.New("rejected by the registry")
	// ErrUnavailable: the registry kept failing with retryable errors (429,
	// 5xx, connection resets, timeouts) until the retry policy gave up.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrInputMismatch: a tag derived from an input digest exists but the
	// image it names does not carry the matching label, so it is not trusted
	// for build avoidance.
	ErrInputMismatch = errors.New("input digest label does not match")
	// ErrBadReference: a reference or repository string could not be parsed,
	// or is of the wrong kind (e.g. a tag where a digest is required).
	ErrBadReference = errors.New("bad reference")
	// ErrBadArchive: an image archive (OCI tarball, OCI layout, docker save
	// tarball) could not be read or holds no single image to push.
	ErrBadArchive = errors.New("bad image archive")
)

// Error is the error type returned by Client methods for registry failures.
// It names the operation and the reference, carries the HTTP status when
// there was one, and a hint telling the user what to check.
type Error struct {
	// Op is the operation, as a verb phrase ("pushing", "resolving", ...).
	Op string
	// Ref is the reference the operation was about.
	Ref string
	// Kind is one of the sentinel errors above.
	Kind error
	// Status is the HTTP status code of the failing response, 0 if none.
	Status int
	// Hint says what to check; never contains secrets.
	Hint string
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the sentinel kind and the underlying error, so that both
// errors.Is(err, ErrNotFound) and errors.As(err, &*transport.Error) work.
func (e *Error) Unwrap() []error {
	return []error{e.Kind, e.Err}
}

// Classify turns an error from go-containerregistry (or from the retrying
// transport) into an *Error naming op and ref, with a sentinel kind and a
// hint. Errors that are already *Error, context errors and nil pass through
// unchanged (context errors wrapped with op and ref). It is exported for
// sibling packages (signing) that talk to registries through a Client's
// options.
func Classify(op, ref string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	e := &Error{Op: op, Ref: ref, Err: err}
	reg := registryOf(ref)

	var exhausted *RetryError
	if errors.As(err, &exhausted) {
		e.Kind = ErrUnavailable
		e.Status = exhausted.Status
		e.Hint = fmt.Sprintf("the registry %s kept failing; check that it is up and reachable, or raise the retry budget", reg)
		return e
	}

	var terr *transport.Error
	if errors.As(err, &terr) {
		e.Status = terr.StatusCode
		switch {
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			e.Kind = ErrNotFound
			e.Hint = "check the repository name, the tag or digest, and that the image was pushed"
		case terr.StatusCode == http.StatusUnauthorized || hasCode(terr, transport.UnauthorizedErrorCode):
			e.Kind = ErrUnauthorized
			e.Hint = fmt.Sprintf("check the credentials for %s (username/password, token or docker config entry)", reg)
		case terr.StatusCode == http.StatusForbidden || hasCode(terr, transport.DeniedErrorCode):
			e.Kind = ErrForbidden
			e.Hint = fmt.Sprintf("the credentials for %s were accepted but lack permission on this repository (pull/push rights)", reg)
		case terr.StatusCode == http.StatusTooManyRequests || terr.StatusCode >= 500:
			e.Kind = ErrUnavailable
			e.Hint = fmt.Sprintf("the registry %s kept failing; check that it is up and reachable, or raise the retry budget", reg)
		default:
			e.Kind = ErrInvalid
			e.Hint = "the registry rejected the request; check the reference and the image format"
		}
		return e
	}
	if isRetryableNetError(err) {
		e.Kind = ErrUnavailable
		e.Hint = fmt.Sprintf("could not talk to %s; check that it is up and reachable", reg)
		return e
	}
	e.Kind = ErrInvalid
	e.Hint = ""
	return e
}

func hasCode(terr *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// registryOf extracts the registry host from a reference string for hints,
// without failing: hints are best effort.
func registryOf(ref string) string {
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			return ref[:i]
		}
	}
	return ref
}
