#!/usr/bin/env bash
# worker.sh: publish the prebuilt slipway worker of this checkout's source into
# the harness registry (the engine's docker.io mirror), as the release workflow
# publishes it for users, and print its reference. A no-op when the registry
# already holds the worker of this exact source. Needs the harness engine up
# (eval "$(hack/engine.sh env)").
#
#   ref="$(hack/worker.sh)"   # docker.io/slipwayci/slipway-worker:src-<hex>
#   dagger call --worker-image "$ref" ci
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

: "${_EXPERIMENTAL_DAGGER_CLI_BIN:?run eval \"\$(hack/engine.sh env)\" first}"
: "${SLIPWAY_LOCAL_REGISTRY:?the harness registry is not known (hack/engine.sh env)}"
dagger_cli="$_EXPERIMENTAL_DAGGER_CLI_BIN"
repo="docker.io/slipwayci/slipway-worker"

read -r ref src < <("$dagger_cli" call -m . worker-ref --repository "$repo" 2>/dev/null)
[ -n "${ref:-}" ] || die "dagger call worker-ref printed nothing"
tag="${ref##*:}"
path="slipwayci/slipway-worker"
if busybox wget -q -O /dev/null --header 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$SLIPWAY_LOCAL_REGISTRY/v2/$path/manifests/$tag" 2>/dev/null; then
	log "worker: $ref already in the harness registry (source $src)"
else
	log "worker: building and publishing $ref (source $src; cold: a few minutes)"
	"$dagger_cli" call -m . worker-image publish --address "$SLIPWAY_LOCAL_REGISTRY/$path:$tag" >&2
fi
echo "$ref"
