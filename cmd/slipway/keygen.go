package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("keygen", "generate an encrypted cosign key pair (password from $SLIPWAY_SIGNING_PASSWORD)", runKeygen)
}

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keygen", stderr)
	dir := fs.String("dir", ".", "directory to write cosign.key and cosign.pub into")
	if err := parse(fs, args); err != nil {
		return err
	}
	pass := os.Getenv(wire.EnvSigningPassword)
	if pass == "" {
		return fmt.Errorf("set %s to the password that will encrypt the key", wire.EnvSigningPassword)
	}
	priv, pub := filepath.Join(*dir, "cosign.key"), filepath.Join(*dir, "cosign.pub")
	for _, p := range []string{priv, pub} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: refusing to overwrite a key", p)
		}
	}
	kp, err := signing.GenerateKeyPair([]byte(pass))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(priv, kp.PrivateKeyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(pub, kp.PublicKeyPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (encrypted) and %s\n", priv, pub)
	return nil
}
