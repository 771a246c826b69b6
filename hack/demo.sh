#!/usr/bin/env bash
# demo.sh: the main job on the embedded default. Runs slipway's `ci` on the
# sample monorepo with no credentials: images go to the embedded registry (a
# real OCI registry run as a Dagger service), deployments to a throwaway
# GitOps repository seeded from deploy/, and images are signed with a demo
# cosign key generated on first use. Brings the harness engine up when no
# engine is reachable (and stops it again if it started it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

started=0
if [ -n "${_EXPERIMENTAL_DAGGER_RUNNER_HOST:-}" ] || { command -v dagger >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }; then
	dagger_cli="${_EXPERIMENTAL_DAGGER_CLI_BIN:-$(command -v dagger)}"
else
	engine_lock # held until the end: up, pipeline, down
	if ! ./hack/engine.sh status >/dev/null 2>&1; then
		started=1
	fi
	trap '[ $started -eq 1 ] && ./hack/engine.sh down' EXIT
	# The demo scans with the sample's scanner, not Trivy, and builds for
	# the engine's own platform: build neither Trivy nor the linux/arm64
	# base images (SLIPWAY_FOREIGN_ARCHES=arm64 asks for them).
	SLIPWAY_TRIVY="${SLIPWAY_TRIVY:-0}" SLIPWAY_FOREIGN_ARCHES="${SLIPWAY_FOREIGN_ARCHES-}" ./hack/engine.sh up
	eval "$(./hack/engine.sh env)"
	dagger_cli="$_EXPERIMENTAL_DAGGER_CLI_BIN"
fi

# A demo signing key, kept outside the repository. Its password is not a
# secret worth protecting (it guards a throwaway key), but it still reaches
# the module only as a Dagger secret.
keydir="$SLIPWAY_CACHE/demo-key"
export SLIPWAY_SIGNING_PASSWORD="${SLIPWAY_DEMO_PASSWORD:-slipway-demo}"
if [ ! -f "$keydir/cosign.key" ]; then
	step "generating a demo cosign key pair in $keydir"
	go run ./cmd/slipway keygen --dir "$keydir"
fi

out=".slipway-out"
mkdir -p "$out"
dagger_call() { "$dagger_cli" call --progress=plain "$@"; }
signing=(--signing-key "file://$keydir/cosign.key" --signing-password env://SLIPWAY_SIGNING_PASSWORD)

step "dagger call ci   (test, build, smoke, publish, sign, deploy the affected services)"
rc=0
# The engine's full trace goes to the log; its slipway progress lines to the terminal.
dagger_call "${signing[@]}" ci 2> >(tee "$out/ci.log" | grep --line-buffered -o 'slipway: .*' | sed -u 's/\x1b\[[0-9;]*m//g; s/^/  /' >&2) || rc=$?
sleep 0.2
if [ $rc -ne 0 ]; then
	tail -n 60 "$out/ci.log" >&2
fi

step "dagger call images   (what the embedded registry now holds)"
dagger_call images 2>>"$out/ci.log" || true

step "dagger call last-report   (the run report, also for GitHub job summaries)"
dagger_call last-report --format markdown export --path "$out/report.md" >/dev/null 2>>"$out/ci.log" && sed 's/^/  /' "$out/report.md"

rm -rf "$out/gitops"
dagger_call gitops export --path "$out/gitops" >/dev/null 2>>"$out/ci.log" || true
if [ -d "$out/gitops/.git" ]; then
	step "the throwaway GitOps repository ($out/gitops)"
	git -C "$out/gitops" log --oneline -5 | sed 's/^/  /'
fi
echo
echo "full log: $out/ci.log   report: $out/report.md   GitOps checkout: $out/gitops"
exit $rc
