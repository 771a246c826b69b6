package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one configuration problem, located by file, field and line.
type Error struct {
	// File is the configuration file, relative to the repository root.
	File string
	// Field is the dotted path of the offending field, e.g. "test.unit" or
	// "environments[1].policy.failOn"; empty when the file as a whole is bad.
	Field string
	// Line is the 1-based line of the field in the file, 0 when unknown.
	Line int
	// Msg says what is wrong and, where useful, what is allowed.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ErrInvalid is matched (errors.Is) by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is a list of configuration problems reported together, so that a
// user fixes them in one pass.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d configuration errors:", len(es))
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// collector accumulates errors for one file, finding lines in its YAML tree.
type collector struct {
	file string
	root *yamlTree
	errs *Errors
	// prefix is put before every field: a service configured in
	// slipway.yaml (serviceConfig.<dir>.) is validated like a service.yaml.
	prefix string
}

func (c collector) add(field, format string, args ...any) {
	field = c.prefix + field
	*c.errs = append(*c.errs, &Error{File: c.file, Field: field, Line: c.root.line(field), Msg: fmt.Sprintf(format, args...)})
}
