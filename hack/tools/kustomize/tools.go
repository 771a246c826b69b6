//go:build tools

// Package tools pins the kustomize CLI that the GitOps tests run
// (`kustomize build` on every updated overlay).
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
