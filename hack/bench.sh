#!/usr/bin/env bash
# bench.sh: the project's figures, printed, never asserted: the harness
# (engine start with warm caches, a no-op `up`, a client session round trip),
# the Go benchmarks of the plain-Go packages (signing vs the stock cosign CLI,
# copy within vs across registries, GitOps updates, promotion, scanner-report
# parsing), and the pipeline itself through the engine (a run with new
# inputs, a no-change rerun, a one-service change; builds counted; sizes).
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

step "warm module load (dagger functions -m .), 5 times"
"${_EXPERIMENTAL_DAGGER_CLI_BIN:-dagger}" functions -m "$SLIPWAY_ROOT" >/dev/null 2>&1 || true # load it once
loads=()
for _ in 1 2 3 4 5; do
	t=$(ms)
	"${_EXPERIMENTAL_DAGGER_CLI_BIN:-dagger}" functions -m "$SLIPWAY_ROOT" >/dev/null 2>&1
	loads+=($(($(ms) - t)))
done

step "Go benchmarks (plain-Go packages)"
go test -run '^$' -bench . -benchmem ./internal/... ./cmd/... 2>&1 | grep -E '^(Benchmark|ok|FAIL)|:[0-9]+: ' || echo "(no benchmarks)"

step "the prebuilt worker of this checkout (hack/worker.sh)"
SLIPWAY_WORKER_IMAGE="$(./hack/worker.sh)"
export SLIPWAY_WORKER_IMAGE

step "a fresh engine, as an ephemeral CI runner has (e2e BenchmarkFreshEngine; restarts the engine)"
SLIPWAY_E2E=1 go test -run '^$' -bench BenchmarkFreshEngine -benchtime 1x -timeout 90m -v ./e2e/ 2>&1 |
	grep -E '^(Benchmark|ok|FAIL)|fresh_engine_bench_test.go:[0-9]+: ' | sed 's/^ *fresh_engine_bench_test.go:[0-9]*: /  /' || true
eval "$(./hack/engine.sh env)"

step "one platform vs two (e2e BenchmarkModuleMultiPlatform)"
SLIPWAY_E2E=1 go test -run '^$' -bench BenchmarkModuleMultiPlatform -benchtime 1x -timeout 60m -v ./e2e/ 2>&1 |
	grep -E '^(Benchmark|ok|FAIL)|multiplatform_test.go:[0-9]+: ' | sed 's/^ *multiplatform_test.go:[0-9]*: /  /' || true

step "the pipeline through the engine (e2e BenchmarkModuleCI)"
SLIPWAY_E2E=1 go test -run '^$' -bench BenchmarkModuleCI -benchtime 1x -timeout 60m -v ./e2e/ 2>&1 | grep -E '^(Benchmark|ok|FAIL)|module_test.go:[0-9]+: (builds|image)' || true

step "base-image resolution per run (dagger call services: every FROM resolved through the engine), 3 times"
bases=()
for _ in 1 2 3; do
	line=$("${_EXPERIMENTAL_DAGGER_CLI_BIN:-dagger}" call --progress=plain -m "$SLIPWAY_ROOT" services 2>&1 | grep -o 'base images: [0-9]* resolved in [0-9.]*[mµn]*s' | tail -1 || true)
	bases+=("${line#base images: }")
done

printf '\n== figures\n'
printf '  %-44s %6d ms\n' "engine up (first, from this state)" "$first"
printf '  %-44s %6d ms\n' "engine down + up, warm caches" "$restart"
printf '  %-44s %6d ms\n' "engine up when already up (no-op)" "$noop"
printf '  %-44s %6s ms\n' "session round trip (5 runs)" "${rts[*]}"
printf '  %-44s %6s ms\n' "warm module load, dagger functions (5 runs)" "${loads[*]}"
printf '  %-44s %s\n' "base-image resolution per run (3 runs)" "$(IFS=';'; echo "${bases[*]}")"
