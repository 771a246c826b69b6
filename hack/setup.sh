#!/usr/bin/env bash
# setup.sh: install the Debian packages the harness needs, only those missing.
# Runs `apt-get update` at most once, and only when something must be installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Package -> why.
#   runc                          the OCI runtime the engine runs containers with
#   containernetworking-plugins   CNI bridge/loopback/host-local/firewall plugins
#   dnsmasq-base                  the dnsname CNI plugin's DNS server for services
#   iptables                      NAT and CNI firewall chains for the dagger0 bridge
#   debootstrap                   Debian root filesystems for the base images
#   busybox-static                the busybox of the busybox/alpine/golang images
#   ca-certificates               the CA bundle copied into the images
#   util-linux, procps, iproute2  unshare/flock, process checks, bridge clean-up
#   gcc, libc6-dev                cgo for the Gitea server the tests run (its SQLite driver)
#   qemu-user-static              user-mode QEMU: linux/arm64 build steps and base images (binfmt_misc)
pkgs=(runc containernetworking-plugins dnsmasq-base iptables debootstrap busybox-static ca-certificates util-linux procps iproute2 gcc libc6-dev qemu-user-static)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" -eq 0 ]; then
	log "setup: all host packages present"
	exit 0
fi
need_root "installing ${missing[*]}"
log "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$SLIPWAY_CACHE/logs"
aptlog="$SLIPWAY_CACHE/logs/setup-apt.log"
# Try with the package lists already on the machine first; update once if that fails.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$aptlog" 2>&1; then
	log "setup: apt-get update (package lists missing or stale)"
	apt-get update -q >>"$aptlog" 2>&1 || { cat "$aptlog" >&2; die "apt-get update failed"; }
	apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 ||
		{ tail -40 "$aptlog" >&2; die "apt-get install ${missing[*]} failed (log: $aptlog)"; }
fi
log "setup: done"
