// Package greet is plain Go that the fixture's Dagger module imports.
package greet

// Greeting returns the greeting for name.
func Greeting(name string) string { return "hello, " + name + ", from internal/greet" }
