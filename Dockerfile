# syntax=docker/dockerfile:1
#
# journeyd container images: a static binary on an empty base (the default), and the same binary beside
# Debian's headless Chromium for browser journeys (`--target browser`).
#
#   docker build -t journeyd:0.1.0 .
#   docker run --rm -p 9898:9898 -e SHOP_URL=… -e SHOP_PASSWORD=… journeyd:0.1.0
#   docker build --target browser -t journeyd:0.1.0-browser .
#   docker run --rm -p 9898:9898 --shm-size=256m journeyd:0.1.0-browser
#
# Three stages. The default image is the LAST stage (`scratch`), so a plain `docker build` never builds
# the browser stage (BuildKit builds only what the target needs). The builder compiles a fully static x86_64 binary (glibc linked statically: no loader, no
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

# The browser image (`--target browser`): Debian's `chromium-headless-shell` (the headless-only build of the same Chromium
# Debian ships, from bookworm-security, so it gets Debian's security updates) and the static binary. Not
# scratch: Chromium needs its ~100 shared libraries, fontconfig and fonts (to render text in screenshots).
# .ci/image-check builds this stage from a bookworm root made with debootstrap (registry images cannot be
# pulled there) and runs the engine's tests against the Chromium inside it.
FROM debian:bookworm-slim AS browser
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="journeyd-browser" \
      org.opencontainers.image.description="journeyd with Debian's headless Chromium, for browser journeys" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Unpinned on purpose: Debian replaces Chromium versions within bookworm-security for security fixes, and
# a pinned version would stop building when it is superseded. The user is the same numeric non-root one as
# the scratch image's, with a home for Chromium's crash and font caches.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium-headless-shell fonts-dejavu-core tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 65532 --user-group --create-home --home-dir /home/journeyd journeyd
COPY --from=builder /journeyd /usr/local/bin/journeyd
COPY journeys/ /etc/journeyd/journeys/
ENV JOURNEYD_CHROMIUM=/usr/bin/chromium-headless-shell
USER 65532:65532
WORKDIR /home/journeyd
EXPOSE 9898
# tini as PID 1: when Chromium is killed (a hung browser, a crash) its renderers are orphaned to PID 1,
# which must reap them or they stay as zombies; journeyd reaps only its own child. `-s`: when something
# else is PID 1 (`docker run --init`, a debug shell), tini registers as a subreaper and still reaps them.
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "/usr/local/bin/journeyd"]
CMD ["run", "--listen", "0.0.0.0:9898", "/etc/journeyd/journeys"]

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
# A fixed mmap threshold: the large buffers of a /metrics scrape (18 MB of text for 1,000 journeys) are
# returned to the system when freed, instead of raising glibc's threshold and staying resident
# (docs/operations.md, "A scrape").
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072
EXPOSE 9898
ENTRYPOINT ["/journeyd"]
# All interfaces, so Prometheus can scrape; the write endpoints (POST /-/reload, maintenance windows) stay
# off. Switch them on only with a --web-config that sets basic_auth_users (docs/operations.md, "Exposing
# journeyd safely"): JOURNEYD_ENABLE_LIFECYCLE=true, JOURNEYD_ENABLE_ADMIN_API=true,
# JOURNEYD_WEB_CONFIG=/path/web.yml.
CMD ["run", "--listen", "0.0.0.0:9898", "/etc/journeyd/journeys"]
