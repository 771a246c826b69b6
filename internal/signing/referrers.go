package signing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/slipwayci/slipway/internal/registry"
)

// Sigstore bundles stored as OCI referrers, the format cosign v3 writes and
// reads by default: one manifest per bundle whose subject is the image, one
// layer holding the bundle's JSON, and an empty JSON config. Registries with
// the referrers API index it; for the others, go-containerregistry keeps the
// referrers tag schema's index under the tag "sha256-<hex>".
const (
	// BundleMediaType is the media type of a Sigstore bundle v0.3.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// SignPredicateType is the predicate of cosign v3's image signatures:
	// an in-toto statement whose subject is the image digest (with the
	// signed annotations) and whose predicate is empty.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"

	emptyJSONMediaType = "application/vnd.oci.empty.v1+json"
	// Manifest annotations cosign writes on a bundle referrer.
	annBundleContent       = "dev.sigstore.bundle.content"
	annBundlePredicateType = "dev.sigstore.bundle.predicateType"
	annCreated             = "org.opencontainers.image.created"
)

// referrerManifest is an OCI image manifest with the artifactType field,
// which go-containerregistry's v1.Manifest lacks.
type referrerManifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

func (m *referrerManifest) RawManifest() ([]byte, error) { return json.Marshal(m) }
func (m *referrerManifest) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}

// storedBundle is a bundle read from a referrer, with the manifest
// annotation naming its predicate type (unverified: it only steers error
// messages).
type storedBundle struct {
	manifest      v1.Hash
	predicateType string
	json          []byte
}

// writeBundle stores bundleJSON as a referrer of the image d names and
// returns the referrer manifest's digest reference.
func writeBundle(ctx context.Context, c *registry.Client, d name.Digest, bundleJSON []byte, predicateType string, now time.Time) (name.Digest, error) {
	opts := c.RemoteOptions(ctx)
	op := "writing the Sigstore bundle of " + d.String() + " to"
	desc, err := remote.Head(d, opts...)
	if err != nil {
		return name.Digest{}, registry.Classify("reading", d.String(), err)
	}
	cfg := static.NewLayer([]byte("{}"), emptyJSONMediaType)
	layer := static.NewLayer(bundleJSON, BundleMediaType)
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(d.Repository, l, opts...); err != nil {
			return name.Digest{}, registry.Classify(op, d.Repository.String(), err)
		}
	}
	cfgDigest, _ := cfg.Digest()
	layerDigest, _ := layer.Digest()
	m := &referrerManifest{
		Manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			Config: v1.Descriptor{MediaType: emptyJSONMediaType, Size: 2, Digest: cfgDigest,
				ArtifactType: BundleMediaType},
			Layers: []v1.Descriptor{{MediaType: BundleMediaType, Size: int64(len(bundleJSON)), Digest: layerDigest}},
			Annotations: map[string]string{
				annBundleContent:       "dsse-envelope",
				annBundlePredicateType: predicateType,
				annCreated:             now.UTC().Format(time.RFC3339),
			},
			Subject: &v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest},
		},
		ArtifactType: BundleMediaType,
	}
	raw, err := m.RawManifest()
	if err != nil {
		return name.Digest{}, err
	}
	sum := sha256.Sum256(raw)
	ref := d.Repository.Digest("sha256:" + hex.EncodeToString(sum[:]))
	if err := remote.Put(ref, m, opts...); err != nil {
		return name.Digest{}, registry.Classify(op, ref.String(), err)
	}
	return ref, nil
}

// readBundles lists the Sigstore bundles that refer to the image d names,
// through the referrers API or the referrers tag schema. Referrers that are
// not bundles are skipped.
func readBundles(ctx context.Context, c *registry.Client, d name.Digest) ([]storedBundle, error) {
	opts := c.RemoteOptions(ctx)
	op := "reading the Sigstore bundles of"
	idx, err := remote.Referrers(d, opts...)
	if err != nil {
		return nil, registry.Classify(op, d.String(), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, registry.Classify(op, d.String(), err)
	}
	var out []storedBundle
	for _, desc := range im.Manifests {
		ref := d.Repository.Digest(desc.Digest.String())
		got, err := remote.Get(ref, opts...)
		if err != nil {
			return nil, registry.Classify(op, ref.String(), err)
		}
		m, err := v1.ParseManifest(strings.NewReader(string(got.Manifest)))
		if err != nil || len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), "application/vnd.dev.sigstore.bundle") {
			continue
		}
		if m.Subject == nil || m.Subject.Digest.String() != d.DigestStr() {
			continue
		}
		l, err := remote.Layer(d.Repository.Digest(m.Layers[0].Digest.String()), opts...)
		if err != nil {
			return nil, registry.Classify(op, ref.String(), err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, registry.Classify(op, ref.String(), err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		rc.Close()
		if err != nil {
			return nil, registry.Classify(op, ref.String(), err)
		}
		if h := sha256.Sum256(b); "sha256:"+hex.EncodeToString(h[:]) != m.Layers[0].Digest.String() {
			return nil, fmt.Errorf("%s %s: the bundle layer does not match its digest", op, ref)
		}
		out = append(out, storedBundle{manifest: desc.Digest, predicateType: m.Annotations[annBundlePredicateType], json: b})
	}
	return out, nil
}
