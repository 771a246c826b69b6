#!/bin/sh
# docker-entrypoint.sh of slipway's redis image (Debian's redis-server).
# Like the Docker Hub image: `redis-server` (or options, or a config file)
# runs as the redis user in /data, reachable from other containers without a
# password (protected mode off), with nothing but its arguments as settings.
set -e

case "$1" in
-* | *.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ]; then
	shift
	conf=
	case "$1" in
	*.conf) conf="$1"; shift ;;
	esac
	set -- redis-server $conf --protected-mode no "$@"
	if [ "$(id -u)" = 0 ]; then
		chown redis:redis /data 2>/dev/null || true
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi

exec "$@"
