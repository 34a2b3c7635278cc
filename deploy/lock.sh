#!/bin/sh
# Regenerate deploy/requirements.lock: every package Steward's image installs, pinned with
# the hashes of every file PyPI has for that version. torch is left out: the Dockerfile
# installs it from the index its TORCH_INDEX_URL names (the CPU build by default), after
# the lock, and the CPU build's own requirements are in the lock.
#
#   deploy/lock.sh                  # resolve torch's CPU build from download.pytorch.org
#   TORCH_WHEELS=/opt/wheels deploy/lock.sh   # or from a folder holding that wheel
#
# Needs uv (pip install uv). pyproject.toml's dependencies are not changed by this.
set -eu
cd "$(dirname "$0")/.."
uv=${UV:-uv}
if [ -n "${TORCH_WHEELS:-}" ]; then
    torch_source="--find-links $TORCH_WHEELS"
else
    torch_source="--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match"
fi
# shellcheck disable=SC2086  # torch_source is two or three words on purpose
"$uv" pip compile pyproject.toml \
    --generate-hashes \
    --no-emit-package torch \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 \
    $torch_source \
    --custom-compile-command "deploy/lock.sh" \
    --output-file deploy/requirements.lock
