# Dockerfile - the elvesd image: a build stage with the -dev packages and
# cmake, and a runtime stage with only the shared libraries, curl for the
# health check, a non-root user and the data volume.
#
# No registry is needed: the base is a local debootstrap of bookworm tagged
# debian:bookworm-slim (tests/e2e/deploy_container.sh shows how), built with
#   podman build --isolation=chroot -t elves-hub .
# Settings come from ELVES_* variables (elvesd --help lists them).
# HEALTHCHECK asks /healthz on the port ELVES_LISTEN names (shell form for
# that); no --start-period: dockerfilelint 1.8 rejects it, and three 30 s
# retries already cover a slow start (crash recovery, GC).

FROM debian:bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       gcc libc6-dev make cmake pkg-config \
       libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev \
       libzstd-dev libxxhash-dev libssl-dev libcmocka-dev libpq-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY migrations/ migrations/
COPY core/ core/
COPY cli/ cli/
COPY server/ server/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DELVES_WERROR=OFF \
    && cmake --build build -j"$(nproc)" --target elvesd elves-cli \
    && strip build/elvesd build/elves

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libmicrohttpd12 libsqlite3-0 libjansson4 libcurl4 libzstd1 libxxhash0 \
       libssl3 libpq5 libyaml-0-2 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 elves \
    && useradd --system --uid 10001 --gid elves --home-dir /data \
       --no-create-home --shell /usr/sbin/nologin elves \
    && mkdir -p /data \
    && chown elves:elves /data
COPY --from=build /src/build/elvesd /src/build/elves /usr/local/bin/
ENV ELVES_DATA=/data \
    ELVES_LISTEN=0.0.0.0:8080
USER elves
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:${ELVES_LISTEN##*:}/healthz"
ENTRYPOINT ["/usr/local/bin/elvesd"]
