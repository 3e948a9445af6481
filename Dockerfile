# syntax=docker/dockerfile:1
#
# journeyd container image: a static binary on an empty base.
#
#   docker build -t journeyd:0.1.0 .
#   docker run --rm -p 9898:9898 -e SHOP_URL=… -e SHOP_PASSWORD=… journeyd:0.1.0
#
# Two stages. The builder compiles a fully static x86_64 binary (glibc linked statically: no loader, no
# libc in the final image). The final stage is `scratch`: the binary, the bundled journeys, nothing else —
# no shell, no package manager, no CA bundle (rustls carries its own roots). .ci/image-check builds this
# final stage from a binary built on the CI machine (registry images cannot be pulled there) and checks
# that its USER, ENTRYPOINT and CMD are the ones below, so keep that script in mind when changing them.
#
# No HEALTHCHECK: scratch has no shell and no curl to run one, and journeyd should not grow an HTTP client
# subcommand just for Docker. Orchestrators probe over HTTP instead (deploy/kubernetes/*.yaml):
#   GET /-/healthy  liveness: the process is serving HTTP;
#   GET /-/ready    readiness: journeys are loaded and scheduled.
# Both on port 9898 (`--listen`); neither fails because a journey fails.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds; the binary is copied out of the target
# mount in the same step because the mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/journeyd /journeyd

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="journeyd" \
      org.opencontainers.image.description="Synthetic user-journey monitor: scripted multi-step HTTP journeys, truthful latency, Prometheus metrics, alerts and a post-deploy gate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /journeyd /journeyd
COPY journeys/ /etc/journeyd/journeys/
# The distroless "nonroot" user: numeric, because scratch has no /etc/passwd to look a name up in.
USER 65532:65532
EXPOSE 9898
ENTRYPOINT ["/journeyd"]
# All interfaces, so Prometheus can scrape; the write endpoints (POST /-/reload, maintenance windows) stay
# off. Switch them on only with a --web-config that sets basic_auth_users (docs/operations.md, "Exposing
# journeyd safely"): JOURNEYD_ENABLE_LIFECYCLE=true, JOURNEYD_ENABLE_ADMIN_API=true,
# JOURNEYD_WEB_CONFIG=/path/web.yml.
CMD ["run", "--listen", "0.0.0.0:9898", "/etc/journeyd/journeys"]
