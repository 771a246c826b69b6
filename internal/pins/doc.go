// Package pins checks the repository's one Dagger pin. dagger.json's
// engineVersion names the Dagger release the module is written for; the
// harness builds that engine, CLI and Go SDK (hack/lib.sh and the harness
// read it from dagger.json), and every other file that names a Dagger
// version (Go module requirements, workflows, docs, test fixtures) must name
// the same one, so that moving to a newer Dagger is a change of dagger.json
// plus what this check then points at. It holds tests only:
//
//	go test ./internal/pins/
package pins
