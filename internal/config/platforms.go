package config

import (
	"fmt"
	"strings"
)

// SupportedPlatforms are the image platforms slipway builds: the ones the
// Dagger engine runs natively or, for the other one, under user-mode QEMU
// (Dockerfiles written for `docker buildx` cross-compile instead).
var SupportedPlatforms = []string{"linux/amd64", "linux/arm64"}

// platformAliases are the other spellings of a supported platform, as
// Docker and BuildKit accept them.
var platformAliases = map[string]string{
	"linux/arm64/v8": "linux/arm64",
	"linux/aarch64":  "linux/arm64",
	"linux/x86_64":   "linux/amd64",
	"linux/amd64/v1": "linux/amd64",
}

// ParsePlatform returns p in its canonical form ("linux/arm64"), or an
// error naming the accepted forms.
func ParsePlatform(p string) (string, error) {
	q := strings.ToLower(strings.TrimSpace(p))
	if a, ok := platformAliases[q]; ok {
		return a, nil
	}
	for _, s := range SupportedPlatforms {
		if q == s {
			return s, nil
		}
	}
	if strings.Count(q, "/") < 1 || strings.Count(q, "/") > 2 || strings.HasPrefix(q, "/") || strings.HasSuffix(q, "/") {
		return "", fmt.Errorf("%q is not a platform: write OS/ARCH[/VARIANT], one of %s", p, strings.Join(SupportedPlatforms, ", "))
	}
	return "", fmt.Errorf("%q is not a supported platform (supported: %s; linux/arm64/v8 is linux/arm64)", p, strings.Join(SupportedPlatforms, ", "))
}

// ParsePlatforms parses a platform list, in order, refusing duplicates
// (after canonicalisation: linux/arm64 and linux/arm64/v8 are one).
func ParsePlatforms(list []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range list {
		c, err := ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		if seen[c] {
			return nil, fmt.Errorf("%s is listed twice", c)
		}
		seen[c] = true
		out = append(out, c)
	}
	return out, nil
}

// checkPlatforms reports each bad entry of list at field[i].
func checkPlatforms(c collector, field string, list []string) {
	seen := map[string]bool{}
	for i, p := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		canon, err := ParsePlatform(p)
		switch {
		case err != nil:
			c.add(f, "%v", err)
		case seen[canon]:
			c.add(f, "%s is listed twice", canon)
		}
		seen[canon] = true
	}
}

// PlatformsFor are the platforms s's image is built for: its
// build.platforms, else the project's images.platforms, canonical; none
// means the engine's own platform, one image rather than an index.
func (p Project) PlatformsFor(s Service) []string {
	list := s.Platforms
	if len(list) == 0 {
		list = p.Images.Platforms
	}
	out, err := ParsePlatforms(list)
	if err != nil {
		return nil // refused when the configuration was loaded
	}
	return out
}
