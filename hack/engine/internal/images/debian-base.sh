# debian-base.sh TARGET MIRROR SECURITY_MIRROR DEB_CACHE SUITE ARCH
#
# ARCH other than the host's runs the packages' scripts under user-mode QEMU
# (binfmt_misc, registered by hack/engine.sh).
# Makes a minbase root filesystem at TARGET that is slim like Docker Hub's
# debian:*-slim images: no documentation, no apt lists, no daemons started by
# package scripts, an empty resolv.conf for the runtime to mount over.
# Every path below is under TARGET; the script refuses an empty TARGET.
set -euo pipefail
target="$1" mirror="$2" security="$3" debs="$4" suite="$5" arch="$6"
case "$target" in
/*/*) ;;
*) echo "debian-base.sh: refusing target '$target'" >&2; exit 2 ;;
esac

debootstrap --variant=minbase --arch="$arch" --cache-dir="$debs" "$suite" "$target" "$mirror" >"$target.log" 2>&1 ||
	{ tail -30 "$target.log" >&2; exit 1; }

printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
	"$mirror" "$suite" "$mirror" "$suite" "$security" "$suite" >"$target/etc/apt/sources.list"

printf '%s\n' \
	'path-exclude /usr/share/doc/*' \
	'path-include /usr/share/doc/*/copyright' \
	'path-exclude /usr/share/man/*' \
	'path-exclude /usr/share/info/*' \
	'path-exclude /usr/share/groff/*' \
	'path-exclude /usr/share/lintian/*' \
	'path-exclude /usr/share/locale/*' \
	'path-include /usr/share/locale/locale.alias' >"$target/etc/dpkg/dpkg.cfg.d/slim"

printf '%s\n' \
	'APT::Install-Recommends "false";' \
	'APT::Install-Suggests "false";' \
	'Acquire::Languages "none";' >"$target/etc/apt/apt.conf.d/slim"

printf '#!/bin/sh\n# Package scripts must not start daemons while an image is built.\nexit 101\n' >"$target/usr/sbin/policy-rc.d"
chmod 755 "$target/usr/sbin/policy-rc.d"

cd "$target"
find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf usr/share/man/* usr/share/info/* usr/share/groff/* usr/share/lintian/*
find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb var/cache/debconf/*-old var/lib/dpkg/*-old
find var/log -type f -delete
: >etc/resolv.conf
rm -f etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >etc/hosts
rm -rf dev/* proc/* sys/* tmp/* run/*
