#!/bin/sh
# What the official redis image's entrypoint does that Steward's compose file relies on:
# `redis-server ...` runs as the redis user, owning /data.
set -e
if [ "${1#-}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
