package main

import "testing"

func TestGreeting(t *testing.T) {
	if got := greeting(""); got != "hello, world" {
		t.Errorf("greeting() = %q", got)
	}
}
