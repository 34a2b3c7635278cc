#!/bin/sh
# Regenerate deploy/flower.lock: Flower (the `flower` extra of pyproject.toml) and what it
# needs beyond deploy/requirements.lock, pinned with the hashes of every file PyPI has for
# each version, resolved against that lock. The Dockerfile's `flower` stage installs it on
# top of the runtime image (docker-compose.yml's profile `flower`).
#
#   deploy/lock-flower.sh          # after deploy/lock.sh, or a new Flower pin
#
# Needs uv (pip install uv).
set -eu
cd "$(dirname "$0")/.."
uv=${UV:-uv}
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' deploy/requirements.lock > "$pins"
flower=$(grep -o '"flower==[^"]*"' pyproject.toml | head -1 | tr -d '"')
# shellcheck disable=SC2046  # one --no-emit-package per package of the main lock
echo "$flower" | "$uv" pip compile - \
    --constraint "$pins" \
    $(sed 's/==.*//; s/^/--no-emit-package /' "$pins") \
    --generate-hashes \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "deploy/lock-flower.sh" \
    --output-file deploy/flower.lock
