# syntax=docker/dockerfile:1
#
# One image, two programs:
#   docker run ota-appliance                                               the appliance (default)
#   docker run ota-appliance node dist/apps/peer-agent/src/main.js \
#     --origin https://ota.example.com --site plant-7 --cache /var/lib/ota-peer     a site's peer agent
#
# The base image already is Node 24, so the `node` devDependency (which pins Node 24 for npm
# scripts on developer machines) is not needed here and is never installed.

ARG NODE_IMAGE=node:24-slim

# ---- build: compile TypeScript to dist/ --------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts while building: the only ones in the lock fetch a second Node binary (`node`),
# build an optional native MessagePack addon used at run time only (`msgpackr-extract`, installed
# in the runtime stage) or report telemetry (`@scarf/scarf`, refused in allowScripts). The compiler
# (tsc through the Nest CLI) needs none of them.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY scripts ./scripts
COPY libs ./libs
COPY apps ./apps
RUN node scripts/build.mjs --force

# ---- runtime: production dependencies and dist/ only, as a non-root user -----------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    MQTT_PORT=1883 \
    MQTT_WS_PORT=8083 \
    BIND_ADDRESS=0.0.0.0 \
    DATA_DIR=/var/lib/ota
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist

# DATA_DIR (embedded database, filesystem object store, signing key unless SIGNING_KEY_FILE points
# elsewhere) and the peer agent's cache belong to the unprivileged `node` user (uid 1000) of the
# base image. A named volume mounted on them starts with this ownership.
RUN mkdir -p /var/lib/ota/signing /var/lib/ota-peer \
 && chown -R node:node /var/lib/ota /var/lib/ota-peer \
 && chmod 700 /var/lib/ota/signing
VOLUME ["/var/lib/ota"]
USER node

# HTTP (device and admin API), MQTT over TCP, MQTT over WebSocket; peer agent: HTTP for devices, libp2p.
EXPOSE 8080 1883 8083 8090 4010

# curl is not in slim images; Node's fetch is. The peer agent listens on 8090: give its container
# its own health check (see docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

CMD ["node", "dist/apps/server/src/main.js"]
