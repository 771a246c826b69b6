// Package sbom writes a CycloneDX JSON software bill of materials of a
// container image, read from an image archive (what Dagger's asTarball
// writes, or a `docker save` tarball): the packages of the operating system
// (dpkg, including distroless status.d, and apk), the modules linked into
// every Go binary (with the Go standard library's version), Python
// distributions (*.dist-info, *.egg-info) and npm packages under
// node_modules, each with a package URL.
//
// The image's layers are flattened the way a container sees them
// (whiteouts and opaque directories honoured) and streamed: no layer is
// held in memory. The output is deterministic: the caller passes the
// timestamp, components are sorted and bom-refs are package URLs, so the
// same image gives the same bytes and re-attesting it writes nothing new.
package sbom

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrMalformed is wrapped by every error about a file inside the image that
// could not be parsed; the message names the file.
var ErrMalformed = errors.New("malformed package metadata")

// Option configures Generate.
type Option func(*config) error

type config struct {
	// repo, tag and digest are the image's name, when given.
	repo        *name.Repository
	tag, digest string
	timestamp   time.Time
	toolVersion string
	tempDir     string
	// platform selects one image of an index ("linux/arm64").
	platform string
	// asIndex describes an archive of one image as registry.IndexOf it.
	asIndex bool
}

// AsIndex makes the BOM of an archive holding a single image describe the
// index of that image alone (registry.IndexOf), as it is published for a
// multi-platform service built for one platform.
func AsIndex() Option {
	return func(c *config) error {
		c.asIndex = true
		return nil
	}
}

// WithPlatform makes the BOM of an index describe only its image of one
// platform ("linux/arm64"), as that image's own digest; an archive holding
// a single image must be of that platform.
func WithPlatform(platform string) Option {
	return func(c *config) error {
		c.platform = platform
		return nil
	}
}

// WithName names the image (registry.example/shop/orders, optionally with
// a :tag or @digest): it becomes the name and the repository_url (and tag)
// of the image's pkg:oci package URL. A digest reference must name the
// archive's own digest.
func WithName(ref string) Option {
	return func(c *config) error {
		r, err := name.ParseReference(ref)
		if err != nil {
			return fmt.Errorf("image name %q: %w", ref, err)
		}
		repo := r.Context()
		c.repo = &repo
		switch r := r.(type) {
		case name.Tag:
			if strings.HasSuffix(ref, ":"+r.TagStr()) { // not the implied "latest"
				c.tag = r.TagStr()
			}
		case name.Digest:
			c.digest = r.DigestStr()
		}
		return nil
	}
}

// WithTimestamp sets the BOM's metadata timestamp (default: none, so
// that the output depends on the image alone).
func WithTimestamp(t time.Time) Option {
	return func(c *config) error {
		c.timestamp = t.UTC()
		return nil
	}
}

// WithToolVersion records the version of slipway that wrote the BOM.
func WithToolVersion(v string) Option {
	return func(c *config) error {
		c.toolVersion = v
		return nil
	}
}

// WithTempDir sets where executables are spooled while their Go build
// information is read (default: the system's temporary directory).
func WithTempDir(dir string) Option {
	return func(c *config) error {
		c.tempDir = dir
		return nil
	}
}

func newConfig(opts []Option) (*config, error) {
	c := &config{}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}
