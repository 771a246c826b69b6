//go:build tools

// Package tools pins the stock cosign v3 CLI that the keyless tests run to
// verify slipway's Sigstore bundles. It is never linked into slipway.
package tools

import _ "github.com/sigstore/cosign/v3/cmd/cosign"
