# Steward's images (docs/operations.md, "Deployment"):
#
#   runtime  the product: `steward serve` (web), `steward-container worker`, `... scheduler`
#            and `... migrate` (docker-compose.yml runs them all). Non-root (uid 10001), no
#            fake GitHub, no test or development packages; everything it writes goes to the
#            one volume at /data (.env and the App's key from the setup flow, models, metrics).
#   flower   runtime plus Flower, Celery's web monitor (docker-compose.yml's profile `flower`:
#            `steward-container flower`), from deploy/flower.lock.
#   demo     runtime plus the fake GitHub, for `steward demo`.
#
#   DOCKER_BUILDKIT=1 docker build --target runtime -t steward:latest \
#       [--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt] .
#
# Build arguments:
#   BASE_IMAGE       a Python 3.11 image with `python3 -m venv` (default: the official slim
#                    bookworm image, pinned by digest; deploy/local/base-image.sh builds one
#                    from Debian's packages where no registry answers)
#   TORCH_VERSION    the torch release (pyproject.toml pins 2.13.0)
#   TORCH_INDEX_URL  where that release's build comes from: the CPU build by default; for GPU
#                    workers a CUDA build, e.g. https://pypi.org/simple (PyPI's Linux x86_64
#                    wheel of torch 2.13.0 is the CUDA 13.0 build, with its CUDA libraries
#                    as wheels: the base image needs no CUDA, the host its NVIDIA driver)
# Build secret (BuildKit; mounted for one step, never stored in a layer):
#   ca               extra CA certificates (PEM) for pip behind a TLS-inspecting proxy
# A torch wheel of TORCH_VERSION placed in deploy/wheels/ (never committed) is installed
# instead of the index's: offline builds, or a build host with a local wheel cache.
#
# Needs BuildKit (Docker 20.10+: its built-in Dockerfile frontend; no `# syntax` line, so
# nothing is pulled for the frontend).

# python:3.11-slim-bookworm as docker-library/repo-info records it (the image of 25 Aug
# 2026, Python 3.11.16; its linux/amd64 manifest is sha256:2fc9207f...c2d3c). Refresh:
#   docker buildx imagetools inspect python:3.11-slim-bookworm
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b

FROM ${BASE_IMAGE} AS python
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/steward \
    PATH=/opt/steward/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ---------------------------------------------------------------------------------------
# The Python packages: every one from deploy/requirements.lock (pinned, hash-checked), then
# torch of the chosen build (its CPU build needs nothing the lock lacks; a CUDA build brings
# its CUDA wheels from the same index).
FROM python AS packages
RUN python3 -m venv /opt/steward
COPY deploy/requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=ca \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps --require-hashes --only-binary :all: -r /tmp/requirements.lock; \
    rm /tmp/requirements.lock
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN --mount=type=bind,source=deploy/wheels,target=/wheels \
    --mount=type=secret,id=ca \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if ls /wheels/torch-"$TORCH_VERSION"[+-]*.whl >/dev/null 2>&1; then \
        pip install --no-index --find-links /wheels "torch==$TORCH_VERSION"; \
    else \
        pip install --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"; \
    fi; \
    pip check

# ---------------------------------------------------------------------------------------
# Steward itself, built from the source without the fake GitHub (no `fakegithub/` in /src:
# the package finder has nothing of it to install).
FROM packages AS runtime
COPY pyproject.toml README.md app.yml /src/
COPY core /src/core
COPY app /src/app
COPY workers /src/workers
COPY models /src/models
RUN pip install --no-deps --no-build-isolation /src && rm -rf /src
COPY deploy/docker/steward-container /opt/steward/bin/steward-container
# The steward user owns /data only; the code and packages stay root's.
RUN set -eu; \
    chmod 0755 /opt/steward/bin/steward-container; \
    echo 'steward:x:10001:10001:Steward:/data:/usr/sbin/nologin' >> /etc/passwd; \
    echo 'steward:x:10001:' >> /etc/group; \
    mkdir -p /data/models /data/metrics; \
    chown -R 10001:10001 /data; \
    chmod 0750 /data
# One volume for everything Steward writes: the setup flow's .env (mode 0600, the App's
# private key inside), models, metrics, the scheduler's state. The models and metrics
# folders are there so a new named volume is created owned by steward.
ENV STEWARD_DATA_DIR=/data \
    STEWARD_ENV_FILE=/data/.env \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOME=/data
WORKDIR /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000
# Per role (web: /readyz; worker: a heartbeat written only while it consumes; scheduler:
# beat's heartbeat and Redis): docker-compose.yml names the role, this detects it.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["steward-container", "health"]
CMD ["steward", "serve"]

# ---------------------------------------------------------------------------------------
# Flower, Celery's web monitor, on the runtime image (docker-compose.yml's profile
# `flower`): Flower and what it needs beyond the lock above, pinned and hash-checked too
# (deploy/flower.lock, written by deploy/lock-flower.sh).
FROM runtime AS flower
USER root
COPY deploy/flower.lock /tmp/flower.lock
RUN --mount=type=secret,id=ca \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps --require-hashes --only-binary :all: -r /tmp/flower.lock; \
    rm /tmp/flower.lock; \
    pip check
USER 10001:10001
EXPOSE 5555
CMD ["steward-container", "flower"]

# ---------------------------------------------------------------------------------------
# The demo: runtime plus the fake GitHub (`docker run --rm steward:demo steward demo`).
FROM runtime AS demo
USER root
COPY pyproject.toml README.md app.yml /src/
COPY core /src/core
COPY app /src/app
COPY workers /src/workers
COPY models /src/models
COPY fakegithub /src/fakegithub
RUN pip install --no-deps --no-build-isolation --force-reinstall /src && rm -rf /src
USER 10001:10001
CMD ["steward", "demo"]
