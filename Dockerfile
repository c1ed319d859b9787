# syntax=docker/dockerfile:1
# The operator image (also runs the reference inference server: command node dist/src/server/main.js).
# Build: docker build -t modelgate:dev .
# BASE_IMAGE: any image with node 24 and npm on PATH. The local cluster, which reaches no
# registry, builds one from Debian packages and the npm `node` package (test/harness/image.ts).
ARG BASE_IMAGE=node:24-bookworm-slim

# 1. Compile TypeScript with the full dependency set.
FROM ${BASE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node ships its CPU binaries in the package; skip the optional GPU download.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only.
FROM ${BASE_IMAGE} AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. Runtime: no compiler, no npm cache, files owned by root and read-only to the non-root user.
FROM ${BASE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/src/operator/main.js"]
