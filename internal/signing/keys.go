package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/slipwayci/slipway/internal/registry"
)

// KeyPair is a cosign key pair: the private key encrypted with a password
// (the "ENCRYPTED SIGSTORE PRIVATE KEY" PEM that `cosign generate-key-pair`
// writes) and the public key.
type KeyPair struct {
	// PrivateKeyPEM is the encrypted private key (cosign.key).
	PrivateKeyPEM []byte
	// PublicKeyPEM is the public key (cosign.pub).
	PublicKeyPEM []byte
}

// GenerateKeyPair creates an ECDSA P-256 key pair, the private key encrypted
// with password (scrypt + secretbox, as cosign does). An empty password is
// refused: slipway never stores an unencrypted signing key.
func GenerateKeyPair(password []byte) (*KeyPair, error) {
	if len(password) == 0 {
		return nil, fmt.Errorf("generating a key pair: %w: the password must not be empty", ErrBadKey)
	}
	pw := append([]byte(nil), password...)
	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pw, nil })
	if err != nil {
		return nil, fmt.Errorf("generating a key pair: %w", err)
	}
	return &KeyPair{PrivateKeyPEM: kb.PrivateBytes, PublicKeyPEM: kb.PublicBytes}, nil
}

// Signer signs and attests images with one private key. It is safe for
// concurrent use, except that two goroutines must not sign (or attest) the
// same digest at once: each write replaces the signature list it read.
type Signer struct {
	sv     signature.SignerVerifier
	pubPEM []byte
	client *registry.Client
	// keyless, when set, signs instead of sv (see NewKeylessSigner).
	keyless *keyless
	// bundles: sv signs into Sigstore bundles (WithBundles).
	bundles bool
}

// LoadSigner decrypts a cosign private key (PEM) with password, once.
// Decryption takes about 0.2 s (scrypt): load the Signer once per run.
func LoadSigner(privateKeyPEM, password []byte, opts ...Option) (*Signer, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("loading the signing key: %w", err)
	}
	sv, err := cosign.LoadPrivateKey(privateKeyPEM, password, nil)
	if err != nil {
		// cosign's messages say "decrypt: ..." or "unsupported pem type";
		// neither contains key material or the password.
		return nil, fmt.Errorf("loading the signing key: %w: %v (is the password right, and is it a cosign key?)", ErrBadKey, err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("loading the signing key: %w", err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("loading the signing key: %w", err)
	}
	return &Signer{sv: sv, pubPEM: pubPEM, client: o.client, bundles: o.bundles}, nil
}

// PublicKeyPEM returns the signer's public key in PEM form.
func (s *Signer) PublicKeyPEM() []byte { return append([]byte(nil), s.pubPEM...) }

// Verifier returns a Verifier for the signer's public key, using the same
// registry client; nil for a keyless Signer, whose signatures verify
// against identities (NewVerifier).
func (s *Signer) Verifier() *Verifier {
	if s.keyless != nil {
		return nil
	}
	return &Verifier{v: s.sv, client: s.client}
}

// Verifier checks signatures and attestations against one public key. It is
// safe for concurrent use.
type Verifier struct {
	v      signature.Verifier // nil: keyless signatures only
	client *registry.Client
	// keyless, when set, verifies Sigstore bundles against identities.
	keyless *keylessVerifier
}

// LoadVerifier reads a public key in PEM form (cosign.pub).
func LoadVerifier(publicKeyPEM []byte, opts ...Option) (*Verifier, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("loading the public key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(publicKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading the public key: %w: %v", ErrBadKey, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading the public key: %w: %v", ErrBadKey, err)
	}
	return &Verifier{v: v, client: o.client}, nil
}

// keyPair makes a cosign key a sigstore-go signing key pair, for bundles
// signed with the key (no certificate: the bundle names the key by its
// hint, the SHA-256 of its public key).
type keyPair struct {
	sv   signature.SignerVerifier
	pub  crypto.PublicKey
	pem  string
	hint []byte
}

func newKeyPair(sv signature.SignerVerifier, pubPEM []byte) (*keyPair, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, err
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: bundles are signed with ECDSA P-256 keys, and this key is %T", ErrBadKey, pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(der)
	return &keyPair{sv: sv, pub: pub, pem: string(pubPEM), hint: []byte(base64.StdEncoding.EncodeToString(h[:]))}, nil
}

func (k *keyPair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (k *keyPair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}
func (k *keyPair) GetHint() []byte                  { return k.hint }
func (k *keyPair) GetKeyAlgorithm() string          { return "ECDSA" }
func (k *keyPair) GetPublicKey() crypto.PublicKey   { return k.pub }
func (k *keyPair) GetPublicKeyPem() (string, error) { return k.pem, nil }

// SignData signs data (hashed with SHA-256 by the key) and returns the
// signature and the digest.
func (k *keyPair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	sig, err := k.sv.SignMessage(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	d := sha256.Sum256(data)
	return sig, d[:], nil
}

// signKeyBundle signs an in-toto statement about d with the key into a
// bundle (offline: no log, no timestamp) and stores it as a referrer.
func (s *Signer) signKeyBundle(ctx context.Context, d name.Digest, statement []byte, predicateType string) (Result, error) {
	kp, err := newKeyPair(s.sv, s.pubPEM)
	if err != nil {
		return Result{}, err
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: inTotoPayloadType}, kp, sign.BundleOptions{Context: ctx})
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: %w", d, err)
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		return Result{}, fmt.Errorf("signing %s: %w", d, err)
	}
	ref, err := writeBundle(ctx, s.client, d, js, predicateType, time.Now())
	if err != nil {
		return Result{}, err
	}
	return Result{Digest: d.String(), Ref: ref.String()}, nil
}
