package main

import "testing"

func TestPrice(t *testing.T) {
	if got := price(3); got != "7.50" {
		t.Errorf("price(3) = %q", got)
	}
}
