# Steward: one image for the web process and the workers (docker-compose.yml runs both).
FROM python:3.11-slim

# CPU wheels by default; build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
# (or another CUDA index) for GPU workers.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 STEWARD_DATA_DIR=/data HF_HUB_OFFLINE=1
WORKDIR /srv/steward

RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0
COPY pyproject.toml README.md app.yml ./
COPY core ./core
COPY app ./app
COPY workers ./workers
COPY models ./models
# The fake GitHub serves `steward demo` (see README, Deployment); the product never imports it.
COPY fakegithub ./fakegithub
RUN pip install .

# The named volumes (models, metrics) take their owner from these folders when created.
RUN useradd --create-home --uid 10001 steward \
    && mkdir -p /data/models /data/metrics && chown -R steward /data
USER steward
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:3000/healthz')" || exit 1
CMD ["steward", "serve"]
