# One image for both modes: BUNDLESYNC_MODE=runtime|backend (default runtime).
FROM oven/bun:1.4 AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY tsconfig.json bunfig.toml ./
COPY src ./src
RUN bun build --compile --minify --bytecode src/main.ts --outfile /out/bundlesync

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data bundlesync \
 && mkdir -p /data && chown bundlesync /data
COPY --from=build /out/bundlesync /usr/local/bin/bundlesync
USER bundlesync
WORKDIR /data
VOLUME ["/data"]
# Listening beyond loopback needs a token: mount one and set BUNDLESYNC_TOKEN_FILE
# (runtime) or BUNDLESYNC_API_TOKEN_FILE (backend).
ENV BUNDLESYNC_MODE=runtime \
    BUNDLESYNC_LISTEN=0.0.0.0:38800 \
    BUNDLESYNC_DATA=/data
EXPOSE 38800 38700
# The listen port follows BUNDLESYNC_LISTEN, so the check reads it too.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${BUNDLESYNC_LISTEN##*:}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/bundlesync"]
