//go:build tools

// Package tools pins Flux's source-controller, one half of the GitOps
// controller the verification tests run against a real Kubernetes API.
package tools

import _ "github.com/fluxcd/source-controller"
