//go:build tools

// Package tools pins the Trivy CLI that the harness builds into the local
// image aquasec/trivy:0.70.0 (see docs/engine.md).
package tools

import _ "github.com/aquasecurity/trivy/cmd/trivy"
