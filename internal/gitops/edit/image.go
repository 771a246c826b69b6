package edit

import (
	"fmt"
	"regexp"
	"strings"
)

// Image is an image reference split into its parts. Name is the repository
// (`registry.example.com/team/api`), Tag the tag and Digest the content
// digest (`sha256:<64 hex>`).
type Image struct {
	Name   string
	Tag    string
	Digest string
}

var (
	nameComponent = `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*`
	domain        = `(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?`
	nameRE        = regexp.MustCompile(`^(?:` + domain + `/)?` + nameComponent + `(?:/` + nameComponent + `)*$`)
	tagRE         = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE      = regexp.MustCompile(`^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)
)

// ParseImage splits a reference such as `reg/app:v1@sha256:…` into its parts.
// It does not validate them: see Image.Validate.
func ParseImage(ref string) Image {
	var img Image
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		img.Digest = ref[i+1:]
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		img.Tag = ref[i+1:]
		ref = ref[:i]
	}
	img.Name = ref
	return img
}

// String renders the reference: name[:tag][@digest].
func (i Image) String() string {
	s := i.Name
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// Validate checks each non-empty part and that a digest is present: every
// image slipway writes is pinned. An empty Name is allowed (the editors then
// keep the name already in the file).
func (i Image) Validate() error {
	if i.Name != "" && !nameRE.MatchString(i.Name) {
		return fmt.Errorf("%w: name %q", ErrInvalidImage, i.Name)
	}
	if i.Tag != "" && !tagRE.MatchString(i.Tag) {
		return fmt.Errorf("%w: tag %q", ErrInvalidImage, i.Tag)
	}
	if i.Digest == "" {
		return fmt.Errorf("%w: no digest (images are written pinned by digest)", ErrInvalidImage)
	}
	if !digestRE.MatchString(i.Digest) {
		return fmt.Errorf("%w: digest %q", ErrInvalidImage, i.Digest)
	}
	return nil
}
