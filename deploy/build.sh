#!/bin/sh
# Build Steward's image for docker-compose.yml with BuildKit, and write a .env with new
# database and Redis passwords the first time (an existing .env is never touched).
#
#   deploy/build.sh                 # steward:latest, the CPU build
#   deploy/build.sh --gpu           # steward:gpu (torch's CUDA build), for worker-gpu
#   deploy/build.sh --demo          # steward:demo, with the fake GitHub: `steward demo`
#   deploy/build.sh --flower        # steward:flower, with Flower: the compose profile flower
#   deploy/build.sh -- --no-cache   # anything after -- goes to `docker build`
#
# Environment: STEWARD_IMAGE / STEWARD_GPU_IMAGE / STEWARD_FLOWER_IMAGE (the tags),
# BASE_IMAGE, TORCH_INDEX_URL, STEWARD_GPU_TORCH_INDEX_URL, STEWARD_BUILD_CA (a PEM bundle
# of extra CA certificates for pip behind a TLS-inspecting proxy: a build secret, never in
# a layer), DOCKER (the client). On an engine with no default bridge (dockerd
# --bridge=none) add `-- --network host`. See docs/operations.md, "Deployment".
set -eu
cd "$(dirname "$0")/.."
target=runtime
tag=${STEWARD_IMAGE:-steward:latest}
torch_index=${TORCH_INDEX_URL:-}
write_env=yes
while [ $# -gt 0 ]; do
    case $1 in
    --gpu)
        tag=${STEWARD_GPU_IMAGE:-steward:gpu}
        torch_index=${STEWARD_GPU_TORCH_INDEX_URL:-https://pypi.org/simple}
        ;;
    --demo) target=demo tag=${STEWARD_DEMO_IMAGE:-steward:demo} ;;
    --flower) target=flower tag=${STEWARD_FLOWER_IMAGE:-steward:flower} ;;
    --no-env) write_env= ;;
    --) shift && break ;;
    *)
        sed -n '2,15s/^# \{0,1\}//p' "$0" >&2
        exit 2
        ;;
    esac
    shift
done

if [ -n "$write_env" ] && [ ! -e .env ]; then
    password() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
    (
        umask 077
        sed -e "s/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=$(password)/" \
            -e "s/^REDIS_PASSWORD=$/REDIS_PASSWORD=$(password)/" deploy/env.example >.env
    )
    echo "wrote .env with new POSTGRES_PASSWORD and REDIS_PASSWORD (keep it; see deploy/env.example)" >&2
fi

docker=${DOCKER:-docker}
if "$docker" buildx version >/dev/null 2>&1; then
    set -- buildx build --load "$@"
else # Docker 20.10 to 22: BuildKit built in
    export DOCKER_BUILDKIT=1
    set -- build "$@"
fi
[ -n "${BASE_IMAGE:-}" ] && set -- "$@" --build-arg "BASE_IMAGE=$BASE_IMAGE"
[ -n "$torch_index" ] && set -- "$@" --build-arg "TORCH_INDEX_URL=$torch_index"
[ -n "${STEWARD_BUILD_CA:-}" ] && set -- "$@" --secret "id=ca,src=$STEWARD_BUILD_CA"
exec "$docker" "$@" --target "$target" --tag "$tag" .
