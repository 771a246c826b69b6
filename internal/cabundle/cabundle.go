// Package cabundle makes the CA bundle that slipway.yaml's caCertificates
// add to every dependency step, test and build, and says where it goes:
// a corporate proxy or package mirror signed by a private CA is then
// trusted by Go, OpenSSL-based tools (curl, git, Python, .NET), pip,
// requests, Node, cargo and apt, without a Dockerfile edit and without the
// certificates ever landing in an image.
package cabundle

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// Where the bundle and apt's configuration are mounted: in tests as files,
// in builds as secret mounts on every RUN step (never in a layer).
const (
	BundlePath  = "/run/slipway/ca-certificates.crt"
	AptConfPath = "/run/slipway/apt.conf"
)

// Secret ids of the bundle and apt's configuration in builds.
const (
	BundleSecret  = "slipway-ca-certificates"
	AptConfSecret = "slipway-apt-ca"
)

// SystemBundles are where images keep their CA bundle: Debian, Ubuntu and
// Alpine; Fedora, RHEL and their kin; openSUSE.
var SystemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
}

// Env points the tools that read a bundle from the environment at
// BundlePath. Every entry but NODE_EXTRA_CA_CERTS replaces the tool's own
// roots, which is why the bundle holds the system roots too.
func Env() map[string]string {
	return map[string]string{
		"SSL_CERT_FILE":       BundlePath, // Go, OpenSSL (curl, git, Python's ssl, .NET), Ruby
		"REQUESTS_CA_BUNDLE":  BundlePath, // Python requests
		"PIP_CERT":            BundlePath, // pip
		"CURL_CA_BUNDLE":      BundlePath, // curl
		"GIT_SSL_CAINFO":      BundlePath, // git
		"NODE_EXTRA_CA_CERTS": BundlePath, // Node and npm (added to Node's own roots)
		"CARGO_HTTP_CAINFO":   BundlePath, // cargo
		"APT_CONFIG":          AptConfPath,
	}
}

// AptConf is apt's configuration for the bundle (apt reads the file
// APT_CONFIG names besides its own).
const AptConf = "Acquire::https::CaInfo \"" + BundlePath + "\";\n"

// Parse returns the certificates of a PEM file: every block must be a
// CERTIFICATE that parses, and there must be one.
func Parse(pemText []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := pemText
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is %q, not a CERTIFICATE", len(certs)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return certs, nil
}

// Merge is one PEM bundle of every certificate in the bundles, each once,
// in order of first appearance. Blocks that are not certificates, and
// text around them, are dropped.
func Merge(bundles ...string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, bundle := range bundles {
		rest := []byte(bundle)
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" || seen[string(blk.Bytes)] {
				continue
			}
			seen[string(blk.Bytes)] = true
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes}))
		}
	}
	return b.String()
}

// Count is the number of certificates in a PEM bundle.
func Count(bundle string) int {
	n, rest := 0, []byte(bundle)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return n
		}
		if blk.Type == "CERTIFICATE" {
			n++
		}
	}
}
