#!/usr/bin/env bash
# bench.sh: the project's figures, printed, never asserted. For now: the
# harness (engine start with warm caches, a no-op `up`, a client session
# round trip) and the Go benchmarks of the root module (none yet). The
# pipeline's own figures (cold/warm `dagger call`) come with the module.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

ms() { date +%s%3N; }

started=0
if ! ./hack/engine.sh status >/dev/null 2>&1; then
	started=1
fi
trap '[ $started -eq 1 ] && ./hack/engine.sh down >/dev/null 2>&1' EXIT

step "engine up (from whatever state the machine is in)"
t=$(ms)
./hack/engine.sh up >/dev/null 2>&1
first=$(($(ms) - t))

step "engine restart with warm caches (down, up)"
t=$(ms)
./hack/engine.sh down >/dev/null 2>&1
./hack/engine.sh up >/dev/null 2>&1
restart=$(($(ms) - t))

step "no-op up"
t=$(ms)
./hack/engine.sh up >/dev/null 2>&1
noop=$(($(ms) - t))

eval "$(./hack/engine.sh env)"
step "session round trip (dagger core version), 5 times"
rts=()
for _ in 1 2 3 4 5; do
	t=$(ms)
	"${_EXPERIMENTAL_DAGGER_CLI_BIN:-dagger}" core version >/dev/null 2>&1
	rts+=($(($(ms) - t)))
done

step "Go benchmarks (root module)"
go test -run '^$' -bench . -benchmem ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL)' || echo "(no benchmarks yet)"

printf '\n== figures\n'
printf '  %-44s %6d ms\n' "engine up (first, from this state)" "$first"
printf '  %-44s %6d ms\n' "engine down + up, warm caches" "$restart"
printf '  %-44s %6d ms\n' "engine up when already up (no-op)" "$noop"
printf '  %-44s %6s ms\n' "session round trip (5 runs)" "${rts[*]}"
