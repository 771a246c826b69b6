package signing

import (
	"crypto"
	"fmt"

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
	return &Signer{sv: sv, pubPEM: pubPEM, client: o.client}, nil
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
