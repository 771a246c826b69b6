# shellcheck shell=bash
# Common settings and helpers for the harness scripts. Sourced, never run.
#
# Every location can be overridden from the environment; the defaults are the
# ones docs/engine.md describes.

SLIPWAY_ROOT="${SLIPWAY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
SLIPWAY_CACHE="${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}"
# The one Dagger pin of the repository: dagger.json's engineVersion. The
# engine, CLI and SDK the harness builds, the workflows and the docs follow it
# (internal/pins checks that no file names another).
DAGGER_VERSION="$(sed -n 's/^[[:space:]]*"engineVersion":[[:space:]]*"\(v[^"]*\)".*/\1/p' "$SLIPWAY_ROOT/dagger.json")"
[ -n "$DAGGER_VERSION" ] || { echo "error: no engineVersion in $SLIPWAY_ROOT/dagger.json" >&2; exit 1; }

# Fixed paths compiled into the engine (hack/engine/distconsts).
SLIPWAY_ENGINE_LIB="/usr/local/lib/slipway-engine"
# Runtime state of one engine: socket, pid files, config, logs.
SLIPWAY_ENGINE_RUN="${SLIPWAY_ENGINE_RUN:-/run/slipway-engine}"
SLIPWAY_ENGINE_STATE="${SLIPWAY_ENGINE_STATE:-/var/lib/slipway-engine}"
SLIPWAY_ENGINE_LOGS="${SLIPWAY_ENGINE_LOGS:-/var/log/slipway-engine}"
SLIPWAY_REGISTRY_PORT="${SLIPWAY_REGISTRY_PORT:-5099}"
SLIPWAY_REGISTRY_DATA="${SLIPWAY_REGISTRY_DATA:-$SLIPWAY_ENGINE_STATE/registry}"

export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/dagger/dagger"
export GOWORK=off

_t0="${_t0:-$(date +%s)}"
export _t0

# log prints a progress line with the seconds since the first script started.
log() { printf '[%4ss] %s\n' "$(($(date +%s) - _t0))" "$*" >&2; }
# step prints a section header.
step() { printf '\n[%4ss] == %s\n' "$(($(date +%s) - _t0))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# hash_files prints a short sha256 over the names and contents of the given files.
hash_files() {
	local f
	for f in "$@"; do
		printf '%s\n' "$f"
		cat "$f"
	done | sha256sum | cut -c1-16
}

# The harness engine is one per machine: scripts that change it or depend on
# it for a while hold this lock (flock) so that concurrent runs from other
# checkouts wait instead of restarting the engine under each other.
SLIPWAY_ENGINE_LOCK="${SLIPWAY_ENGINE_LOCK:-/run/lock/slipway-engine.lock}"

# engine_lock: take the machine-wide harness lock for the rest of the
# script (file descriptor 8), unless a calling script already holds it.
engine_lock() {
	[ "${SLIPWAY_ENGINE_LOCKED:-}" = 1 ] && return 0
	mkdir -p "$(dirname "$SLIPWAY_ENGINE_LOCK")"
	exec 8>>"$SLIPWAY_ENGINE_LOCK"
	if ! flock -n 8; then
		log "waiting for another run using the harness engine (lock $SLIPWAY_ENGINE_LOCK)"
		flock 8
	fi
	export SLIPWAY_ENGINE_LOCKED=1
}

need_root() {
	[ "$(id -u)" = 0 ] || die "$1 needs root (it installs packages, runs the engine as a host process and configures networking)"
}
