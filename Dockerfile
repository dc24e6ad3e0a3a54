# syntax=docker/dockerfile:1
# Images are pinned to full versions (bump them on purpose, together with
# go.mod's go line); `docker compose build` or
#   docker build --build-arg VERSION=$(git describe --tags --always) -t crm .

# Build: a static binary (CGO_ENABLED=0), so the runtime image needs no Go
# and no libc match. The go build line is the one cmd/crm's
# TestBinaryBuiltLikeTheDockerfile runs: keep them in step.
FROM golang:1.26.8-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/crm ./cmd/crm

# Run: Debian 12 slim with CA certificates, as an unprivileged user. The
# image expects DATABASE_URL (see docker-compose.yml and .env.example): it
# ships no PostgreSQL. No curl: the healthcheck is `crm health`.
FROM debian:12.12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin crm
COPY --from=build /out/crm /usr/local/bin/crm
# Numeric, so runtimes can check it is not root without reading /etc/passwd.
USER 10001:10001
ENV HTTP_ADDR=:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["crm", "health"]
CMD ["crm", "serve"]
