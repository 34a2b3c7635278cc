#!/bin/sh
# Build a Debian bookworm base image from Debian's own packages, for machines that reach
# Debian's mirror but no container registry (make test-deploy uses it as BASE_IMAGE).
#
#   deploy/local/base-image.sh [TAG]        # default steward-base:bookworm
#
# It holds what the Dockerfile needs of python:3.11-slim-bookworm: Python 3.11 with venv,
# CA certificates, netbase and tzdata (Debian's python3 lives in /usr/bin, not /usr/local).
# Needs root (debootstrap) and a Docker engine; DOCKER names the client (default: docker).
set -eu
tag=${1:-steward-base:bookworm}
docker=${DOCKER:-docker}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || {
    echo "base-image.sh: debootstrap is missing (apt-get install debootstrap)" >&2
    exit 2
}
work=$(mktemp -d /var/tmp/steward-base.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates,netbase,tzdata \
    bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
}
chroot "$work/root" apt-get clean
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin \
    "$work/root/usr/share/doc" "$work/root/usr/share/man" "$work/root/usr/share/info"
tar -C "$work/root" -c . | "$docker" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$tag" >/dev/null
echo "built $tag from Debian bookworm ($mirror)"
