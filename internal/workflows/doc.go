// Package workflows checks the repository's GitHub Actions workflows
// (.github/workflows/*.yml). It holds tests only:
//
//   - actionlint, built from its pinned module (hack/tools/actionlint), finds
//     nothing in any workflow. Its shellcheck and pyflakes integrations are
//     turned off so that the result does not depend on what else the machine
//     has installed;
//   - every use of dagger/dagger-for-github is pinned to an exact release (or
//     a commit) and installs the Dagger version dagger.json's engineVersion
//     names, so CI runs the engine the module is written for;
//   - no secret, and no value someone outside the project controls (a pull
//     request's branch name or title, a free-text workflow_dispatch input),
//     is pasted into a shell script: not into a `run:` script, and not into
//     the `args`, `call` or `shell` input of the Dagger action, which that
//     action pastes into a bash script of its own. Such values travel as
//     environment variables (`env:`), and secrets reach the module as
//     env:// Dagger secrets;
//   - permissions are declared and least-privilege: read-only for the
//     workflow, write only for packages (pushing and tagging images) in the
//     jobs that publish or promote, and id-token: write only in (and always
//     in) a job that signs keylessly (passes --oidc-request-token).
//
// Run them with `go test ./internal/workflows/`.
package workflows
