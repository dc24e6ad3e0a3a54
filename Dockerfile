# Build: a static binary, so the runtime image needs no Go and no libc match.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/crm ./cmd/crm

# Run: Debian 12 slim with CA certificates, as an unprivileged user. The
# image expects DATABASE_URL (see docker-compose.yml): it ships no PostgreSQL.
FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin crm
COPY --from=build /out/crm /usr/local/bin/crm
USER crm
ENV HTTP_ADDR=:8000
EXPOSE 8000
CMD ["crm", "serve"]
