# syntax=docker/dockerfile:1
# The operator image (also runs the reference inference server: command node dist/src/server/main.js).
# Build: docker build -t modelgate:dev .

# 1. Compile TypeScript with the full dependency set.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node ships its CPU binaries in the package; skip the optional GPU download.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. Runtime: no compiler, no npm cache, files owned by root and read-only to the non-root user.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/src/operator/main.js"]
