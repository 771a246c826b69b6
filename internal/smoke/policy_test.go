package smoke

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckImage(t *testing.T) {
	good := Image{User: "app:app", ExposedPorts: []int{9090, 8080}, Labels: map[string]string{"org.opencontainers.image.licenses": "MIT", "team": "payments"}}
	required := []string{"org.opencontainers.image.licenses", "team"}
	if err := CheckImage(good, 8080, required, "services/orders/Dockerfile"); err != nil {
		t.Fatalf("a compliant image was refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		img  Image
		want []string
	}{
		{"no USER", Image{ExposedPorts: []int{8080}, Labels: good.Labels}, []string{`runs as root (USER "")`, "services/orders/Dockerfile"}},
		{"USER root", Image{User: "root", ExposedPorts: []int{8080}, Labels: good.Labels}, []string{`USER "root"`}},
		{"USER 0:0", Image{User: "0:0", ExposedPorts: []int{8080}, Labels: good.Labels}, []string{`USER "0:0"`}},
		{"wrong port", Image{User: "app", ExposedPorts: []int{80}, Labels: good.Labels}, []string{"does not EXPOSE port 8080", "it exposes: 80", "if the service listens on 80, set port: 80 in service.yaml; otherwise add EXPOSE 8080"}},
		{"no port", Image{User: "app", Labels: good.Labels}, []string{"it exposes: none"}},
		{"label missing and empty", Image{User: "app", ExposedPorts: []int{8080}, Labels: map[string]string{"team": " "}},
			[]string{"lacks the required label(s) org.opencontainers.image.licenses, team", "LABEL org.opencontainers.image.licenses=…"}},
		{"everything wrong at once", Image{}, []string{"runs as root", "does not EXPOSE", "lacks the required label(s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckImage(tc.img, 8080, required, "services/orders/Dockerfile")
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("got %v, want an image policy violation", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
		})
	}
}
