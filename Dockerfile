# syntax=docker/dockerfile:1
# Multi-stage build: a static huizong binary (pure Go, SQLite included) on a
# distroless base, running as a non-root user with its data on a volume.
#
# Modules come from GOPROXY. Where the default proxy cannot be reached (for
# example inside mainland China), pass another one:
#
#   docker build --build-arg GOPROXY=https://goproxy.cn,direct .

FROM golang:1.26-bookworm AS build
ARG GOPROXY=https://proxy.golang.org,direct
ENV GOPROXY=${GOPROXY} \
    CGO_ENABLED=0
WORKDIR /src
COPY . .
# No `go mod download`: it would fetch every module in go.mod, the
# development tools (swag, staticcheck) included. `go build` fetches only the
# modules the binary imports; the cache mounts keep them between builds.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/huizong ./cmd/huizong \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/huizong /usr/local/bin/huizong
COPY --from=build /src/configs/huizong.yaml /etc/huizong/huizong.yaml
COPY --from=build --chown=65532:65532 /out/data /data
ENV HUIZONG_CONFIG=/etc/huizong/huizong.yaml \
    HUIZONG_DATA_DIR=/data \
    HUIZONG_ADDR=:8080
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# `huizong healthcheck` asks the local /readyz (the image has no curl): the
# container is healthy only while the store answers and the server is not
# draining for shutdown.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/huizong", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/huizong"]
CMD ["serve"]
