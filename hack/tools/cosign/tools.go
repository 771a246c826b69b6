//go:build tools

// Package tools pins the stock cosign CLI that the signing compatibility
// tests run to verify slipway's signatures and attestations. It is never
// linked into slipway itself.
package tools

import _ "github.com/sigstore/cosign/v2/cmd/cosign"
