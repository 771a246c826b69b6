//go:build tools

// Package tools pins the actionlint CLI that internal/workflows runs on
// every file in .github/workflows.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
