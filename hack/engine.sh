#!/usr/bin/env bash
# engine.sh up|down|status|env|clean: the offline Dagger engine of the harness.
#
#   up      build what is missing, start the local registry (docker.io mirror),
#           push the base images, write the Go SDK runtime, start the engine;
#           a no-op when all of that is already up to date. If a usable engine
#           already exists (_EXPERIMENTAL_DAGGER_RUNNER_HOST set by the caller,
#           or a stock `dagger` CLI with a working `docker`) it builds nothing.
#   down    stop the engine (SIGTERM by PID), its dnsmasq and the registry.
#   status  print what runs; exit 0 when the engine and the registry are up.
#   env     print the exports a client needs: eval "$(hack/engine.sh env)".
#   clean   down, then remove the bridge, CNI iptables chains and all state.
#
# See docs/engine.md for what this does to the host.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

sock="$SLIPWAY_ENGINE_RUN/engine.sock"
runner_host="unix://$sock"
registry_addr="127.0.0.1:$SLIPWAY_REGISTRY_PORT"
engine_pidfile="$SLIPWAY_ENGINE_RUN/engine.pid"
registry_pidfile="$SLIPWAY_ENGINE_RUN/registry.pid"
statefile="$SLIPWAY_ENGINE_RUN/engine.state"
envfile="$SLIPWAY_ENGINE_RUN/env"

# alive PIDFILE NEEDLE: prints the PID when it runs and its command line
# contains NEEDLE (so a recycled PID is never mistaken for ours).
alive() {
	local pid
	[ -s "$1" ] || return 1
	pid="$(cat "$1")"
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
	echo "$pid"
}

# stop_pid NAME PID [SECONDS]: SIGTERM, wait, then SIGKILL as a last resort.
stop_pid() {
	local name="$1" pid="$2" wait="${3:-30}" i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < wait * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { log "stopped $name (pid $pid)"; return 0; }
		sleep 0.1
	done
	log "$name (pid $pid) did not stop after ${wait}s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

# external_engine: the laptop path. Prints how the existing engine is reached.
external_engine() {
	if [ -n "${_EXPERIMENTAL_DAGGER_RUNNER_HOST:-}" ] && [ "$_EXPERIMENTAL_DAGGER_RUNNER_HOST" != "$runner_host" ]; then
		echo "_EXPERIMENTAL_DAGGER_RUNNER_HOST=$_EXPERIMENTAL_DAGGER_RUNNER_HOST"
		return 0
	fi
	if [ "${SLIPWAY_ENGINE:-}" != harness ] && command -v dagger >/dev/null 2>&1 &&
		command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
		echo "stock dagger CLI ($(command -v dagger)) with Docker"
		return 0
	fi
	return 1
}

# rotate LOG: keep one previous log once a log passes 64 MiB.
rotate() {
	if [ -f "$1" ] && [ "$(stat -c %s "$1")" -gt $((64 << 20)) ]; then
		mv -f "$1" "$1.1"
	fi
}

registry_up() {
	local pid
	if pid="$(alive "$registry_pidfile" "harness registry")"; then
		if alive "$registry_pidfile" "$harness registry" >/dev/null; then
			return 0
		fi
		log "the registry runs an older harness build: restarting it (its content stays)"
		stop_pid registry "$pid" 10
	fi
	mkdir -p "$SLIPWAY_REGISTRY_DATA" "$SLIPWAY_ENGINE_LOGS"
	log "starting the local registry on $registry_addr (data $SLIPWAY_REGISTRY_DATA)"
	rotate "$SLIPWAY_ENGINE_LOGS/registry.log"
	# The daemons outlive this script: they must not inherit any descriptor
	# of the caller (a lock held through one, by flock(1) or engine_lock,
	# would stay held for as long as they run).
	setsid "$harness" registry -addr "$registry_addr" -data "$SLIPWAY_REGISTRY_DATA" \
		>>"$SLIPWAY_ENGINE_LOGS/registry.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	local rpid=$!
	echo "$rpid" >"$registry_pidfile"
	for _ in $(seq 100); do
		if busybox wget -q -O /dev/null "http://$registry_addr/v2/" 2>/dev/null; then
			return 0
		fi
		kill -0 "$rpid" 2>/dev/null ||
			{ tail -20 "$SLIPWAY_ENGINE_LOGS/registry.log" >&2; die "the registry exited (log $SLIPWAY_ENGINE_LOGS/registry.log)"; }
		sleep 0.1
	done
	die "the registry did not answer on $registry_addr within 10s"
}

# lay_out_lib: the fixed paths compiled into the engine (hack/engine/distconsts).
lay_out_lib() {
	local lib="$SLIPWAY_ENGINE_LIB" p
	mkdir -p "$lib/cni" "$lib/ca-certificates"
	if ! cmp -s "$bin/init" "$lib/dagger-init"; then
		install -m 0755 "$bin/init" "$lib/dagger-init.tmp" && mv "$lib/dagger-init.tmp" "$lib/dagger-init"
	fi
	for p in /usr/lib/cni/*; do
		ln -sfn "$p" "$lib/cni/$(basename "$p")"
	done
	if ! cmp -s "$bin/dnsname" "$lib/cni/dnsname"; then
		rm -f "$lib/cni/dnsname"
		install -m 0755 "$bin/dnsname" "$lib/cni/dnsname"
	fi
}

# Foreign platforms: linux/arm64 steps run under Debian's user-mode QEMU,
# registered with the kernel's binfmt_misc under the harness's own name
# with the F flag (the interpreter is opened once, so it works inside every
# container's root). `engine.sh clean` unregisters it. The pinned engine's
# other route, buildkit-qemu-<arch> on its PATH, needs BuildKit's patched
# QEMU (a foreign step's child processes exec through it); Debian's QEMU is
# not patched, so binfmt_misc is what runs a multi-process build step.
binfmt_dir=/proc/sys/fs/binfmt_misc
binfmt_name=slipway-qemu-aarch64
aarch64_magic=7f454c460201010000000000000000000200b700

# binfmt_up: on an amd64 host, prints "arm64" when linux/arm64 programs run
# here through a binfmt_misc entry with the F flag (the host's own, or the
# harness's, registered now); prints nothing and says why when they cannot.
# An arm64 host prints nothing: its images are arm64, and amd64 emulation is
# not set up. SLIPWAY_FOREIGN_ARCHES= (empty) turns it off.
binfmt_up() {
	[ "${SLIPWAY_FOREIGN_ARCHES-arm64}" = arm64 ] || { log "foreign platforms off (SLIPWAY_FOREIGN_ARCHES=${SLIPWAY_FOREIGN_ARCHES-})"; return 0; }
	if [ "$(uname -m)" = aarch64 ]; then
		return 0
	fi
	if ! [ -f "$binfmt_dir/register" ]; then
		mount -t binfmt_misc binfmt_misc "$binfmt_dir" 2>/dev/null ||
			{ log "binfmt_misc cannot be mounted here: images are built for linux/$(uname -m) only"; return 0; }
	fi
	local f
	for f in "$binfmt_dir"/*; do
		case "$(basename "$f")" in register | status) continue ;; esac
		if grep -qx enabled "$f" && grep -qx "magic $aarch64_magic" "$f" && grep -q '^flags:.*F' "$f"; then
			echo arm64
			return 0
		fi
	done
	local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
	[ -f "$conf" ] || { log "no $conf (qemu-user-static): images are built for linux/$(uname -m) only"; return 0; }
	if sed "s/^:qemu-aarch64:/:$binfmt_name:/" "$conf" >"$binfmt_dir/register" 2>/dev/null &&
		grep -q '^flags:.*F' "$binfmt_dir/$binfmt_name"; then
		log "registered $binfmt_name with binfmt_misc (linux/arm64 under user-mode QEMU; engine.sh clean removes it)"
		echo arm64
		return 0
	fi
	log "could not register $binfmt_name with binfmt_misc: images are built for linux/$(uname -m) only"
}

write_config() {
	cat >"$SLIPWAY_ENGINE_RUN/engine.toml.tmp" <<-EOF
		# Written by hack/engine.sh; see docs/engine.md.
		[worker.oci]
		  cniBinaryPath = "$SLIPWAY_ENGINE_LIB/cni"

		[registry."docker.io"]
		  mirrors = ["$registry_addr"]

		[registry."$registry_addr"]
		  http = true
		  insecure = true
	EOF
	mv "$SLIPWAY_ENGINE_RUN/engine.toml.tmp" "$SLIPWAY_ENGINE_RUN/engine.toml"
}

engine_ready() {
	DO_NOT_TRACK=1 _EXPERIMENTAL_DAGGER_RUNNER_HOST="$runner_host" timeout 60 "$bin/dagger" core version >/dev/null 2>&1
}

cmd_up() {
	local how
	if how="$(external_engine)"; then
		log "using the existing engine ($how); the harness builds nothing"
		return 0
	fi
	need_root "engine.sh up"
	engine_lock
	"$SLIPWAY_ROOT/hack/setup.sh"
	# Trivy (minutes to build) only for the runs that scan with it: the tests
	# (SLIPWAY_TRIVY=1, the default); make demo sets SLIPWAY_TRIVY=0 and gets
	# it only when an earlier run already built it.
	local trivy=""
	if [ "${SLIPWAY_TRIVY:-1}" = 1 ] || [ -x "$("$SLIPWAY_ROOT/hack/build.sh" trivy-path)" ]; then
		mapfile -t dirs < <("$SLIPWAY_ROOT/hack/build.sh" all)
		trivy="${dirs[3]}"
	else
		mapfile -t dirs < <("$SLIPWAY_ROOT/hack/build.sh" engine; "$SLIPWAY_ROOT/hack/build.sh" harness; "$SLIPWAY_ROOT/hack/build.sh" frontend)
		log "Trivy not built (SLIPWAY_TRIVY=0): the aquasec/trivy image is left out"
	fi
	bin="${dirs[0]}" harness="${dirs[1]}/harness" frontend="${dirs[2]}/dockerfile-frontend"
	mkdir -p "$SLIPWAY_ENGINE_RUN" "$SLIPWAY_ENGINE_STATE/engine" "$SLIPWAY_ENGINE_LOGS"
	lay_out_lib
	registry_up
	local foreign
	foreign="$(binfmt_up)"

	step "base images -> $registry_addr (docker.io mirror)"
	"$harness" images -registry "$registry_addr" -repo "$SLIPWAY_ROOT" -cache "$SLIPWAY_CACHE/images" -frontend "$frontend" ${trivy:+-trivy "$trivy"} -foreign-arches "$foreign"
	step "Go SDK runtime -> $SLIPWAY_ENGINE_LIB/builtin"
	local sdk_digest
	sdk_digest="$("$harness" gosdk -repo "$SLIPWAY_ROOT" -cache "$SLIPWAY_CACHE/images" \
		-codegen "$bin/codegen" -out "$SLIPWAY_ENGINE_LIB/builtin")"
	log "Go SDK runtime $sdk_digest"

	write_config
	# A shared engine: with SLIPWAY_ENGINE_TCP=127.0.0.1:PORT the engine also
	# listens on that loopback TCP address, and clients elsewhere reach it
	# with _EXPERIMENTAL_DAGGER_RUNNER_HOST=tcp://127.0.0.1:PORT (see
	# docs/scaling.md). The harness only ever listens on loopback.
	local -a tcp_addr=()
	if [ -n "${SLIPWAY_ENGINE_TCP:-}" ]; then
		case "$SLIPWAY_ENGINE_TCP" in
		127.*:[0-9]*) tcp_addr=(--addr "tcp://$SLIPWAY_ENGINE_TCP") ;;
		*) die "SLIPWAY_ENGINE_TCP=$SLIPWAY_ENGINE_TCP: the harness engine listens on loopback only (127.0.0.1:PORT)" ;;
		esac
	fi
	local want pid
	want="$(hash_files "$bin/.complete" "$SLIPWAY_ENGINE_RUN/engine.toml" <(echo "$bin $sdk_digest ${tcp_addr[*]} foreign=$foreign"))"
	if pid="$(alive "$engine_pidfile" "--addr $runner_host")"; then
		if [ "$(cat "$statefile" 2>/dev/null)" = "$want" ] && engine_ready; then
			log "engine already up (pid $pid, $runner_host)"
			write_env
			return 0
		fi
		log "engine configuration changed: restarting"
		stop_engine
	fi

	step "engine"
	rm -f "$sock"
	rotate "$SLIPWAY_ENGINE_LOGS/engine.log"
	printf '\n==== %s engine start (%s)\n' "$(date -Is)" "$bin" >>"$SLIPWAY_ENGINE_LOGS/engine.log"
	# A private mount namespace: the engine bind-mounts its own resolv.conf
	# over /etc/resolv.conf and must not do so for the whole host.
	GOPROXY=off DO_NOT_TRACK=1 DAGGER_GO_SDK_MANIFEST_DIGEST="$sdk_digest" \
		setsid unshare --mount --propagation private -- \
		"$bin/engine" --config "$SLIPWAY_ENGINE_RUN/engine.toml" \
		--root "$SLIPWAY_ENGINE_STATE/engine" --addr "$runner_host" "${tcp_addr[@]}" \
		>>"$SLIPWAY_ENGINE_LOGS/engine.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	local pid=$!
	echo "$pid" >"$engine_pidfile"
	local i
	for ((i = 0; i < 600; i++)); do
		[ -S "$sock" ] && break
		# kill -0, not alive(): until setsid and unshare have exec'd the
		# engine, its command line does not show the engine's flags yet.
		kill -0 "$pid" 2>/dev/null ||
			{ tail -30 "$SLIPWAY_ENGINE_LOGS/engine.log" >&2; die "the engine exited (log $SLIPWAY_ENGINE_LOGS/engine.log)"; }
		sleep 0.1
	done
	[ -S "$sock" ] || die "no engine socket at $sock after 60s (log $SLIPWAY_ENGINE_LOGS/engine.log)"
	engine_ready || { tail -30 "$SLIPWAY_ENGINE_LOGS/engine.log" >&2; die "the engine does not answer on $runner_host"; }
	echo "$want" >"$statefile"
	write_env
	log "engine up (pid $(cat "$engine_pidfile"), $runner_host, log $SLIPWAY_ENGINE_LOGS/engine.log)"
}

write_env() {
	cat >"$envfile" <<-EOF
		export _EXPERIMENTAL_DAGGER_RUNNER_HOST=$runner_host
		export _EXPERIMENTAL_DAGGER_CLI_BIN=$bin/dagger
		export SLIPWAY_LOCAL_REGISTRY=$registry_addr
		export SLIPWAY_ENGINE=harness
		export SLIPWAY_ENGINE_TCP_HOST=${tcp_addr[1]:-}
		export SLIPWAY_FOREIGN_PLATFORMS=${foreign:+linux/$foreign}
		export DO_NOT_TRACK=1
		export DAGGER_NO_NAG=1
	EOF
}

stop_engine() {
	local pid f
	if pid="$(alive "$engine_pidfile" "--addr $runner_host")"; then
		stop_pid engine "$pid" 30
	fi
	rm -f "$engine_pidfile" "$statefile" "$sock"
	# After an unclean engine exit its dnsmasq survives: end it by its pidfile.
	for f in /run/containers/cni/dnsname/*/pidfile; do
		[ -s "$f" ] || continue
		if pid="$(alive "$f" dnsmasq)"; then
			stop_pid dnsmasq "$pid" 10
		fi
		rm -f "$f"
	done
}

cmd_down() {
	local pid
	if ! [ -d "$SLIPWAY_ENGINE_RUN" ]; then
		log "nothing to stop"
		return 0
	fi
	need_root "engine.sh down"
	engine_lock
	stop_engine
	if pid="$(alive "$registry_pidfile" "harness registry")"; then
		stop_pid registry "$pid" 10
	fi
	rm -f "$registry_pidfile" "$envfile"
}

cmd_status() {
	local pid rc=0 how f
	if how="$(external_engine)"; then
		echo "engine:   external ($how)"
		return 0
	fi
	if pid="$(alive "$engine_pidfile" "--addr $runner_host")"; then
		echo "engine:   running (pid $pid, $runner_host)"
	else
		echo "engine:   stopped"
		rc=3
	fi
	if pid="$(alive "$registry_pidfile" "harness registry")"; then
		echo "registry: running (pid $pid, $registry_addr)"
	else
		echo "registry: stopped"
		rc=3
	fi
	for f in /run/containers/cni/dnsname/*/pidfile; do
		if [ -s "$f" ] && pid="$(alive "$f" dnsmasq)"; then
			echo "dnsmasq:  running (pid $pid, $f)"
		fi
	done
	echo "logs:     $SLIPWAY_ENGINE_LOGS"
	return "$rc"
}

cmd_env() {
	if how="$(external_engine)"; then
		[ -n "${_EXPERIMENTAL_DAGGER_RUNNER_HOST:-}" ] && echo "export _EXPERIMENTAL_DAGGER_RUNNER_HOST=$_EXPERIMENTAL_DAGGER_RUNNER_HOST"
		[ -n "${_EXPERIMENTAL_DAGGER_CLI_BIN:-}" ] && echo "export _EXPERIMENTAL_DAGGER_CLI_BIN=$_EXPERIMENTAL_DAGGER_CLI_BIN"
		[ -n "${SLIPWAY_LOCAL_REGISTRY:-}" ] && echo "export SLIPWAY_LOCAL_REGISTRY=$SLIPWAY_LOCAL_REGISTRY"
		echo "export SLIPWAY_ENGINE=external"
		return 0
	fi
	[ -s "$envfile" ] && alive "$engine_pidfile" "--addr $runner_host" >/dev/null ||
		die "the harness engine is not up (run hack/engine.sh up)"
	cat "$envfile"
}

cmd_clean() {
	need_root "engine.sh clean"
	engine_lock
	cmd_down
	log "removing the dagger0 bridge, CNI iptables chains and harness state"
	ip link delete dagger0 2>/dev/null || true
	local t c rule chains
	for t in filter nat; do
		chains="$(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-/ {print $2}')"
		[ -n "$chains" ] || continue
		# Rules of other chains that jump into CNI chains, then the chains.
		iptables -t "$t" -S | grep -E -- '-j CNI-' | grep -vE '^-A CNI-' | sed 's/^-A/-D/' |
			while read -r rule; do
				eval "iptables -t $t $rule" || true
			done
		for c in $chains; do iptables -t "$t" -F "$c" || true; done
		for c in $chains; do iptables -t "$t" -X "$c" || true; done
	done
	if [ -f "$binfmt_dir/$binfmt_name" ]; then
		echo -1 >"$binfmt_dir/$binfmt_name" && log "unregistered $binfmt_name from binfmt_misc"
	fi
	rm -rf "$SLIPWAY_ENGINE_STATE" "$SLIPWAY_ENGINE_RUN" "$SLIPWAY_ENGINE_LIB" /run/containers/cni/dnsname/dagger /var/lib/cni/networks/dagger /var/lib/cni/results/dagger-* /var/lib/cni/results/cni-loopback-*
	log "clean: done (build cache kept in $SLIPWAY_CACHE; remove it by hand if wanted)"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
clean) cmd_clean ;;
*) die "usage: engine.sh up|down|status|env|clean" ;;
esac
