#!/bin/sh
# Install Steward and its test tools into the virtual environment whose interpreter is $1
# (what `make` does before `make test`, in CI too).
#
# With CPython 3.11 on x86-64 Linux, the platform the locks are resolved for (CI's and the
# image's), every package comes pinned and hash-checked from deploy/requirements-dev.lock
# (the image's deploy/requirements.lock plus the test tools; deploy/lock.sh writes both);
# then torch at pyproject.toml's version from the index pip is set up with (its CPU build
# where pip finds it, as here; a GPU host gets its CUDA build, whose extra packages no lock
# holds), then Steward itself. Elsewhere the lock's versions are used as constraints,
# without hashes. `pip check` ends either way.
set -eu
python=$1
cd "$(dirname "$0")/.."
lock=deploy/requirements-dev.lock
fits='import platform, sys
sys.exit(not (sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)
              and sys.platform == "linux" and platform.machine() == "x86_64"))'
if "$python" -c "$fits"; then
    "$python" -m pip install --quiet --require-hashes --no-deps -r "$lock"
    torch=$(grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
    "$python" -m pip install --quiet "$torch"
    "$python" -m pip install --quiet --no-deps --no-build-isolation -e .
else
    echo "$lock is for CPython 3.11 on x86-64 Linux: its versions are installed as" \
        "constraints here, without hash checks" >&2
    constraints=$(mktemp)
    trap 'rm -f "$constraints"' EXIT
    sed -e '/--hash=/d' -e 's/ \\$//' "$lock" >"$constraints"
    "$python" -m pip install --quiet -c "$constraints" -e '.[dev]'
fi
"$python" -m pip check
