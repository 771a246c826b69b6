//go:build tools

// Package tools pins the osv-scanner CLI that slipway's vulnerability tests
// run offline against a small image and a local OSV database, and from which
// the scanner tool image is built. It is never linked into slipway itself.
package tools

import _ "github.com/google/osv-scanner/v2/cmd/osv-scanner"
