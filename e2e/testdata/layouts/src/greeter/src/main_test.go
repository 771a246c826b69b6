package main

import (
	"os"
	"testing"
)

func TestGreeting(t *testing.T) {
	if got := greeting(""); got != "hello, world" {
		t.Errorf("greeting() = %q", got)
	}
}

// slipway.yaml's env and setup reach the tests.
func TestProjectEnvironment(t *testing.T) {
	if got := os.Getenv("SHOP_BUILD_CHANNEL"); got != "fixture" {
		t.Errorf("SHOP_BUILD_CHANNEL = %q", got)
	}
	if _, err := os.Stat("/tmp/slipway-setup-ran"); err != nil {
		t.Errorf("the setup step did not run before the tests: %v", err)
	}
}
