#!/usr/bin/env bash
# make test-deploy: Steward deployed the way an organisation runs it, end to end.
#
# 1. A Docker engine: the one that answers, else (as root) Debian's docker.io, installed
#    when missing and started here (`dockerd --iptables=false --bridge=none`), stopped at
#    the end. A Compose (v2 plugin or docker-compose 1.29) and a client that builds with
#    BuildKit are found or installed the same way.
# 2. The images: on the official bases when a registry answers, else on a Debian base built
#    with debootstrap (deploy/local/base-image.sh) and with Redis and PostgreSQL images
#    built from Debian's packages (deploy/local/). The runtime image is built twice (with
#    no cache, then cached) and timed; the demo image once. A local CPU torch wheel found
#    in PIP_FIND_LINKS or /opt/wheels is copied into deploy/wheels/ (never committed) so
#    the build needs no PyTorch index; the host's CA bundle goes in as a build secret.
# 3. Checks of the images: the runtime image runs as uid 10001 and has no fake GitHub and
#    no test or development packages; the demo image runs `steward demo`.
# 4. deploy/scenario.py: the real docker-compose.yml (with deploy/compose.local.yml)
#    against the fake GitHub; it prints the table.
#
# Everything started here is stopped on the way out (the compose project, its network,
# the fake, the engine if this started it); the images stay as the next run's cache.
set -euo pipefail
# One group, read whole before it runs: editing this file while it runs changes nothing.
{
cd "$(dirname "$0")/.."
out=build/deploy-test
mkdir -p "$out"
python=${PYTHON:-.venv/bin/python}
project=steward-deploy-test
image=steward:deploy-test
demo_image=steward:deploy-test-demo
official_base=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -1)
torch_version=$(sed -n 's/^ARG TORCH_VERSION=//p' Dockerfile | head -1)

note() { printf 'test-deploy: %s\n' "$*" >&2; }
die() {
    note "$*"
    exit 1
}
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
    is_root && command -v apt-get >/dev/null || return 1
    note "installing $* (Debian packages)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

dockerd_pid=
docker=
compose=()
cleanup() {
    local rc=$?
    if [ ${#compose[@]} -gt 0 ] && [ -f "$out/compose.env" ]; then
        "${compose[@]}" --env-file "$out/compose.env" -f docker-compose.yml \
            -f deploy/compose.local.yml -p "$project" down -v --remove-orphans \
            >/dev/null 2>&1 || true
    fi
    if [ -n "$docker" ]; then
        "$docker" network rm "$project" >/dev/null 2>&1 || true
    fi
    if [ -n "$dockerd_pid" ]; then
        "$docker" builder prune -f --keep-storage 10GB >/dev/null 2>&1 || true
        note "stopping the Docker engine this run started (pid $dockerd_pid)"
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------ 1. the engine
docker_clients() {
    local c
    for c in $(which -a docker 2>/dev/null); do readlink -f "$c"; done | awk '!seen[$0]++'
}
engine_answers() {
    local c
    for c in $(docker_clients); do
        if "$c" info >/dev/null 2>&1; then return 0; fi
    done
    return 1
}
if ! engine_answers; then
    is_root || die "no Docker engine answers; start one, or run as root to let this start one"
    command -v dockerd >/dev/null || apt_install docker.io || die "cannot install docker.io"
    note "starting a Docker engine (dockerd --iptables=false --bridge=none; log $out/dockerd.log)"
    dockerd --iptables=false --bridge=none >"$out/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 120); do engine_answers && break; sleep 0.5; done
    engine_answers || die "the Docker engine did not start: $(tail -5 "$out/dockerd.log")"
fi

# A client that builds with BuildKit: one with buildx, or one older than 23 (whose
# `docker build` has BuildKit built in when DOCKER_BUILDKIT=1).
find_builder() {
    local c major
    for c in $(docker_clients); do
        "$c" info >/dev/null 2>&1 || continue
        if "$c" buildx version >/dev/null 2>&1; then
            docker=$c
            build=("$c" buildx build --load)
            return 0
        fi
        major=$("$c" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
        if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then
            docker=$c
            build=(env DOCKER_BUILDKIT=1 "$c" build)
            return 0
        fi
    done
    return 1
}
find_builder || { apt_install docker.io && find_builder; } ||
    die "no Docker client builds with BuildKit here: install docker-buildx (or Debian's docker.io)"
find_compose() {
    local c
    for c in $(docker_clients); do
        if "$c" compose version >/dev/null 2>&1; then
            compose=("$c" compose)
            return 0
        fi
    done
    if command -v docker-compose >/dev/null && docker-compose version >/dev/null 2>&1; then
        compose=(docker-compose)
        return 0
    fi
    return 1
}
find_compose || { apt_install docker-compose && find_compose; } ||
    die "no Docker Compose here: install the compose plugin or docker-compose"
note "engine $("$docker" version --format '{{.Server.Version}}'), client $docker, compose: ${compose[*]}"

# ------------------------------------------------------------------------ 2. the images
declare -A seconds=()
timed() { # timed NAME LOG COMMAND...: run, record its seconds, show the log's end on failure
    local name=$1 log=$2 started
    shift 2
    started=$(date +%s%N)
    if ! "$@" >"$log" 2>&1; then
        tail -40 "$log" >&2
        die "$name failed (log: $log)"
    fi
    seconds[$name]=$(awk -v a="$started" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
}

if timeout 60 "$docker" pull -q "$official_base" >/dev/null 2>&1; then
    base=$official_base
    note "a registry answers: the official images"
    "$docker" pull -q redis:7 >/dev/null && "$docker" pull -q postgres:16 >/dev/null
    export STEWARD_LOCAL_REDIS_IMAGE=redis:7 STEWARD_LOCAL_POSTGRES_IMAGE=postgres:16
else
    base=steward-base:bookworm
    note "no registry answers: images from Debian's packages"
    if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
        command -v debootstrap >/dev/null || apt_install debootstrap || die "debootstrap is missing"
        timed "Debian base (debootstrap)" "$out/base.log" env DOCKER="$docker" deploy/local/base-image.sh "$base"
    fi
    for service in redis postgres; do
        timed "local $service image" "$out/$service.log" "${build[@]}" --network host \
            --build-arg BASE_IMAGE="$base" -f "deploy/local/$service.Dockerfile" \
            -t "steward-$service:local" .
    done
fi

wheel_dirs="${PIP_FIND_LINKS:-} /opt/wheels"
for dir in ${wheel_dirs//,/ }; do
    dir=${dir#file://}
    for wheel in "$dir"/torch-"$torch_version"+cpu-cp311-*.whl; do
        [ -f "$wheel" ] || continue
        if ! cmp -s "$wheel" "deploy/wheels/$(basename "$wheel")"; then
            note "using the local CPU torch wheel $wheel"
            cp "$wheel" deploy/wheels/
        fi
    done
done

# The steward images through deploy/build.sh, the documented command (no .env written).
ca=${STEWARD_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$ca" ] || ca=
steward_build() { # steward_build TAG [build.sh flags] -- [docker build args]
    env DOCKER="$docker" BASE_IMAGE="$base" STEWARD_BUILD_CA="$ca" STEWARD_IMAGE="$1" \
        STEWARD_DEMO_IMAGE="$1" deploy/build.sh --no-env "${@:2}"
}
"$docker" rmi "$image" "$demo_image" >/dev/null 2>&1 || true
note "building $image with no cache (log $out/build-cold.log)"
timed "runtime image, cold (no cache)" "$out/build-cold.log" \
    steward_build "$image" -- --network host --progress plain --no-cache
timed "runtime image, cached" "$out/build-cached.log" \
    steward_build "$image" -- --network host --progress plain
timed "demo image (on the runtime's cache)" "$out/build-demo.log" \
    steward_build "$demo_image" --demo -- --network host --progress plain

# ------------------------------------------------------------------------ 3. the checks
run_in() { "$docker" run --rm --network none --entrypoint "$@"; }
if out_import=$(run_in python "$image" -c 'import fakegithub' 2>&1); then
    die "the runtime image imports fakegithub"
fi
grep -q "No module named 'fakegithub'" <<<"$out_import" || die "import fakegithub: $out_import"
dev='^(pytest|pytest-aiohttp|pytest-timeout|hypothesis|selenium|ruff|mypy|types-pyyaml|mkdocs)=='
found_dev=$(run_in pip "$image" list --format=freeze | grep -i -E "$dev" || true)
[ -z "$found_dev" ] || die "the runtime image has test or development packages: $found_dev"
uid=$(run_in id "$image" -u)
[ "$uid" = 10001 ] || die "the runtime image runs as uid $uid"
run_in python "$demo_image" -c 'import fakegithub' || die "the demo image has no fakegithub"
timed "steward demo in the demo image" "$out/demo.log" \
    "$docker" run --rm --network none "$demo_image" steward demo

size() { "$docker" image inspect -f '{{.Size}}' "$1" | awk '{printf "%.2f GB", $1 / 1e9}'; }
{
    printf '{"sizes": {'
    printf '"%s (runtime)": "%s", ' "$image" "$(size "$image")"
    printf '"%s (demo)": "%s"' "$demo_image" "$(size "$demo_image")"
    if [ "$base" = steward-base:bookworm ]; then
        for name in steward-base:bookworm steward-redis:local steward-postgres:local; do
            printf ', "%s": "%s"' "$name" "$(size "$name")"
        done
    fi
    printf '}, "times": {'
    sep=
    for name in "Debian base (debootstrap)" "local redis image" "local postgres image" \
        "runtime image, cold (no cache)" "runtime image, cached" \
        "demo image (on the runtime's cache)" "steward demo in the demo image"; do
        [ -n "${seconds[$name]:-}" ] || continue
        printf '%s"%s": %s' "$sep" "$name" "${seconds[$name]}"
        sep=', '
    done
    printf '}, "checks": {'
    printf '"runtime image: python -c \\"import fakegithub\\"": "fails (ModuleNotFoundError)", '
    printf '"runtime image: pytest, hypothesis, selenium, ruff, mypy, mkdocs": "none (pip list)", '
    printf '"runtime image: user": "uid %s", ' "$uid"
    printf '"demo image: steward demo": "exit 0", '
    printf '"base image": "%s"' "$base"
    printf '}}\n'
} >"$out/builds.json"

# ------------------------------------------------------------------------ 4. the scenario
note "running the scenario (deploy/scenario.py)"
"$python" deploy/scenario.py --compose "${compose[*]}" --docker "$docker" \
    --project "$project" --network "$project" --out "$out" --builds "$out/builds.json"
exit
}
