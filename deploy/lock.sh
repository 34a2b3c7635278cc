#!/bin/sh
# Regenerate the two lock files, every package pinned with the hashes of every file PyPI
# has for that version:
#   deploy/requirements.lock      what Steward's image installs (no test tools);
#   deploy/requirements-dev.lock  what `make` installs for the tests and CI: the same pins
#                                 plus the `dev` extra's (resolved with the first as
#                                 constraints, so both agree on every package they share).
# torch is left out of both: the Dockerfile installs it from the index its TORCH_INDEX_URL
# names (the CPU build by default) and `make` from the index pip is set up with, after the
# lock; the CPU build's own requirements are in the locks.
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
# shellcheck disable=SC2086
"$uv" pip compile pyproject.toml \
    --extra dev \
    --constraint deploy/requirements.lock \
    --generate-hashes \
    --no-emit-package torch \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 \
    $torch_source \
    --custom-compile-command "deploy/lock.sh" \
    --output-file deploy/requirements-dev.lock
