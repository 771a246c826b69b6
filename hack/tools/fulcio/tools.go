//go:build tools

// Package tools pins Fulcio, the certificate authority of the local
// Sigstore stack the keyless signing tests run against (sigstoretest).
package tools

import _ "github.com/sigstore/fulcio"
