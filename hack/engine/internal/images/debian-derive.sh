# debian-derive.sh: installs packages into an overlay over the base root
# filesystem so that the overlay's upper directory is exactly the new layer.
# Run inside `unshare --mount --propagation private`: every mount below
# disappears with the namespace. Environment: BASE UPPER WORK MERGED LISTS
# ARCHIVES PKGS POST.
set -euo pipefail
for v in BASE UPPER WORK MERGED LISTS ARCHIVES; do
	case "${!v}" in
	/*/*) ;;
	*) echo "debian-derive.sh: refusing $v='${!v}'" >&2; exit 2 ;;
	esac
done

mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$UPPER,workdir=$WORK" "$MERGED"
mount --bind "$LISTS" "$MERGED/var/lib/apt/lists"
mount --bind "$ARCHIVES" "$MERGED/var/cache/apt/archives"
mount -t proc proc "$MERGED/proc"
mount --bind /dev "$MERGED/dev"
mount --bind /etc/resolv.conf "$MERGED/etc/resolv.conf"

chroot "$MERGED" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 HOME=/root PKGS="$PKGS" POST="$POST" \
	/bin/bash -euo pipefail -c '
apt-get update -q
apt-get install -y -q --no-install-recommends $PKGS
eval "$POST"
apt-get clean
find /var/log -type f -delete
rm -f /var/cache/debconf/*-old /var/cache/ldconfig/aux-cache
'
