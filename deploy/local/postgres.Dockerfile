# PostgreSQL 15 from Debian's packages, standing in for the official postgres:16 image on
# machines that reach Debian's mirror but no registry (deploy/compose.local.yml, make
# test-deploy). The same interface: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB create
# the role and database on first start, data in /var/lib/postgresql/data, PGPORT honoured,
# `postgres -c ...` arguments passed on, pg_isready for the healthcheck.
ARG BASE_IMAGE=steward-base:bookworm
FROM ${BASE_IMAGE}
RUN set -eu; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; \
    mkdir -p /etc/postgresql-common; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /var/lib/postgresql/data /var/run/postgresql; \
    chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql; \
    chmod 0700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY deploy/local/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
