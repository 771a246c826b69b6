package dockerfile

import (
	"fmt"
	"testing"
)

func TestLinesAndExposedPorts(t *testing.T) {
	text := "# syntax=docker/dockerfile:1\nFROM golang AS build\nEXPOSE 9999\n\nFROM scratch\n# EXPOSE 1234 is a comment\nEXPOSE 8080/tcp \\\n  53/udp 8080 9090\n"
	ls := Lines(text)
	if len(ls) != 4 || ls[3].Line != 7 || ls[3].Text != "EXPOSE 8080/tcp  53/udp 8080 9090" {
		t.Errorf("Lines = %+v", ls)
	}
	if got := fmt.Sprint(ExposedPorts(text)); got != "[8080 9090]" {
		t.Errorf("ExposedPorts = %s, want the last stage's TCP ports once each", got)
	}
}
