//go:build tools

// Package tools pins kwok, the fake nodes of the verification tests'
// Kubernetes control plane: it marks pods running and ready (or failing,
// per Stage objects the tests apply) without running containers.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
