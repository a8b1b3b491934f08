# syntax=docker/dockerfile:1
# One image for Vitrine's three programs and the load-test tools (seed, scenario, ...),
# built in release mode. Which program a container runs is its command:
#   docker run vitrine command-api | projector | query-api | seed ...
# (deploy/compose/compose.yaml and deploy/k8s/ set it). docs/deployment.md walks through it.
#
# Build:  docker build -t vitrine:latest .
# Checked here without an engine by .ci/checks.d/50-deploy.sh (hadolint).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# librdkafka is compiled from source by rdkafka-sys (cmake, a C/C++ compiler) with
# OpenSSL (TLS to the broker) and Cyrus SASL (SCRAM, PLAIN, GSSAPI); zlib for compression.
# Unpinned versions: the Debian release pins them (hadolint DL3008 is off in .hadolint.yaml).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake make g++ pkg-config libssl-dev libsasl2-dev zlib1g-dev perl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target directory between builds (BuildKit); the
# binaries are copied out of the cache mount, which does not end up in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p command-api -p projector -p query-api -p loadtests \
 && mkdir -p /out \
 && cp target/release/command-api target/release/projector target/release/query-api \
       target/release/seed target/release/scenario target/release/history \
       target/release/ceiling target/release/ceiling-bench target/release/command-bench \
       /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Shared libraries of librdkafka (libssl3, libsasl2-2 and its SCRAM/PLAIN/GSSAPI modules),
# CA certificates for TLS to managed services, curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libsasl2-2 libsasl2-modules libsasl2-modules-gssapi-mit curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vitrine \
 && useradd --system --uid 10001 --gid vitrine --no-create-home --shell /usr/sbin/nologin vitrine
COPY --from=build /out/ /usr/local/bin/
# Inside a container the programs listen on every interface (their defaults are
# loopback for a development machine); one port for the API (or, for the projector,
# /healthz, /readyz, /metrics).
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
# A numeric user, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
# /healthz answers while the process serves (liveness); orchestrators use /readyz for
# traffic. The port is the one LISTEN_ADDR names.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/bin/sh", "-c", "curl -fsS \"http://127.0.0.1:${LISTEN_ADDR##*:}/healthz\" >/dev/null"]
ENTRYPOINT []
CMD ["query-api"]
