# Strangers: build stage compiles TypeScript and the web client; the runtime stage keeps only
# production dependencies and dist/. test/deploy/files.test.ts lints this file and checks the rules
# below (pinned base, non-root user, health check).
#
# The base image is pinned to an exact Node.js release (the one the project is tested on). For
# reproducible builds pin its digest as well: `docker buildx imagetools inspect IMAGE` prints it;
# write FROM node:20.20.2-bookworm-slim@sha256:<digest> in both stages.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The WebSocket layer is an npm workspace package (packages/websocket) the server depends on.
COPY packages/websocket/package.json ./packages/websocket/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY packages ./packages
COPY src ./src
COPY test ./test
COPY web ./web
RUN npm run build

FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production \
    # A small young generation: thousands of idle sockets cost far less memory (docs/benchmarks.md).
    NODE_OPTIONS=--max-semi-space-size=2 \
    STRANGERS_HOST=0.0.0.0 \
    STRANGERS_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/websocket/package.json ./packages/websocket/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/packages/websocket/dist ./packages/websocket/dist
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/web ./dist/web
COPY --from=build /app/dist/admin ./dist/admin
USER node
# 8080: the public port (page, /ws, health). 9090: the internal port (/metrics and the moderator
# API /admin/...) when STRANGERS_INTERNAL_PORT=9090, as deploy/ sets it; never publish it.
# Secrets (STRANGERS_SECRET, the Redis URL with its password) come at run time, never in the image.
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.STRANGERS_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains: matched users are told `shutdown`, connections close with 1001.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
