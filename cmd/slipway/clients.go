package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/wire"
)

// hostOf returns the registry host of a repository or reference.
func hostOf(ref string) string {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i]
	}
	return ref
}

// newRegistry builds the registry client: plain HTTP for the insecure hosts,
// and the credentials from the environment for every host the run uses.
func newRegistry(insecure []string, hosts ...string) (*registry.Client, error) {
	opts := []registry.Option{registry.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if len(insecure) > 0 {
		opts = append(opts, registry.WithInsecure(insecure...))
	}
	user, pass := os.Getenv(wire.EnvRegistryUsername), os.Getenv(wire.EnvRegistryPassword)
	if pass != "" {
		seen := map[string]bool{}
		for _, h := range hosts {
			h = hostOf(h)
			if h == "" || seen[h] {
				continue
			}
			seen[h] = true
			if user == "" {
				opts = append(opts, registry.WithToken(h, pass))
			} else {
				opts = append(opts, registry.WithBasicAuth(h, user, pass))
			}
		}
	}
	return registry.New(opts...)
}

// finder adapts the registry client to the planner's build-avoidance lookup.
type finder struct{ c *registry.Client }

func (f finder) FindByInputDigest(ctx context.Context, repo, inputDigest string) (string, bool, error) {
	d, found, err := f.c.FindByInputDigest(ctx, repo, inputDigest)
	if err != nil || !found {
		// A tag whose label does not match is not ours to reuse: rebuild.
		if err != nil && strings.Contains(err.Error(), registry.ErrInputMismatch.Error()) {
			return "", false, nil
		}
		return "", false, err
	}
	return d.String(), true, nil
}

var _ plan.Finder = finder{}

// newFinder returns the registry-backed build-avoidance lookup.
func newFinder(insecure []string, registryAddr string) (plan.Finder, error) {
	c, err := newRegistry(insecure, registryAddr)
	if err != nil {
		return nil, err
	}
	return finder{c}, nil
}

// newSigner loads the signing key from the environment; nil when none was
// given (images are then published unsigned).
func newSigner(c *registry.Client) (*signing.Signer, error) {
	key := os.Getenv(wire.EnvSigningKey)
	if key == "" {
		return nil, nil
	}
	s, err := signing.LoadSigner([]byte(key), []byte(os.Getenv(wire.EnvSigningPassword)), signing.WithRegistry(c))
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	return s, nil
}
