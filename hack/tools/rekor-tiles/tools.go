//go:build tools

// Package tools pins Rekor v2 (rekor-tiles, POSIX storage), the
// transparency log of the local Sigstore stack (sigstoretest).
package tools

import _ "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix"
