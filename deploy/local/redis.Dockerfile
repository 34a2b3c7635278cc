# Redis from Debian's packages, standing in for the official redis:7 image on machines that
# reach Debian's mirror but no registry (deploy/compose.local.yml, make test-deploy). The
# same interface: `docker-entrypoint.sh redis-server ...` (run as the redis user), data in
# /data, redis-cli for the healthcheck.
ARG BASE_IMAGE=steward-base:bookworm
FROM ${BASE_IMAGE}
RUN set -eu; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /data; chown redis:redis /data
COPY deploy/local/redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
VOLUME ["/data"]
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
