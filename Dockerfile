# syntax=docker/dockerfile:1
# Multi-stage build: a static huizong binary (pure Go, SQLite included) on a
# distroless base, running as a non-root user with its data on a volume.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/huizong ./cmd/huizong \
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
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/huizong", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/huizong"]
CMD ["serve"]
