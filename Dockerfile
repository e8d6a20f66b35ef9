# syntax=docker/dockerfile:1
# ---- build stage --------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev libsqlite3-dev pkg-config binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies first so that source changes reuse the layer.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY mappings ./mappings
RUN swift build -c release --static-swift-stdlib --product cloudthread-bridge \
 && cp "$(swift build -c release --show-bin-path)/cloudthread-bridge" /usr/local/bin/cloudthread-bridge \
 && objcopy --only-keep-debug /usr/local/bin/cloudthread-bridge /src/cloudthread-bridge.debug \
 && strip --strip-unneeded /usr/local/bin/cloudthread-bridge
# The symbols stay in the build stage (/src/cloudthread-bridge.debug) for crash reports; the image gets the
# stripped binary. Refuse to build an image whose shipped rule files are broken, or whose tests fail.
RUN cloudthread-bridge check mappings/ && cloudthread-bridge test mappings/

# ---- runtime stage ------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin bridge \
 && mkdir -p /data /etc/cloudthread-bridge \
 && chown bridge:bridge /data
COPY --from=build /usr/local/bin/cloudthread-bridge /usr/local/bin/cloudthread-bridge
COPY --from=build /src/mappings /etc/cloudthread-bridge/mappings
ENV BRIDGE_HOST=0.0.0.0 \
    BRIDGE_PORT=8080 \
    BRIDGE_DATA_DIR=/data \
    BRIDGE_MAPPINGS=/etc/cloudthread-bridge/mappings \
    LOG_FORMAT=json
USER bridge
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/cloudthread-bridge", "probe"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/cloudthread-bridge"]
CMD ["serve"]
