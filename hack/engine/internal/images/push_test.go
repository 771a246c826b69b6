package images

import "testing"

func TestMirrorRef(t *testing.T) {
	for in, want := range map[string]string{
		"alpine:3.22":                          "127.0.0.1:5099/library/alpine:3.22",
		"docker.io/library/golang:1.26-alpine": "127.0.0.1:5099/library/golang:1.26-alpine",
		"bitnami/redis:7":                      "127.0.0.1:5099/bitnami/redis:7",
		"busybox":                              "127.0.0.1:5099/library/busybox:latest",
	} {
		ref, err := MirrorRef("127.0.0.1:5099", in)
		if err != nil {
			t.Fatalf("MirrorRef(%q): %v", in, err)
		}
		if ref.String() != want {
			t.Errorf("MirrorRef(%q) = %s, want %s", in, ref, want)
		}
	}
	if _, err := MirrorRef("127.0.0.1:5099", "ghcr.io/x/y:1"); err == nil {
		t.Error("MirrorRef accepted a name outside Docker Hub")
	}
}
