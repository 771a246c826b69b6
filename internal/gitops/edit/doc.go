// Package edit rewrites container image references inside YAML files without
// reformatting them: kustomize `images:` entries, Helm values and plain
// Kubernetes manifests.
//
// Every editor parses its input with yaml.v3 only to learn where things are
// (line, column, quoting style) and then splices the new values into the
// original bytes. Comments, quoting, indentation, blank lines, flow style,
// line endings and every byte outside the edited scalars stay exactly as they
// were. Each result is re-parsed and compared with the intended change before
// it is returned, so an input whose layout cannot be edited safely fails with
// ErrUnsupported instead of being written wrongly.
//
// Images are written pinned by digest: `name:tag@sha256:…` for manifests and
// single-string Helm values, `newTag` plus `digest` for kustomize.
package edit
