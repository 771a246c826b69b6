//go:build tools

// Package tools pins BuildKit's Dockerfile frontend, which the harness
// serves as docker/dockerfile:1 from its local registry: Dockerfiles that
// start with `# syntax=docker/dockerfile:1` make the engine run that image.
package tools

import _ "github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend"
