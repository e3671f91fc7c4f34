# flowhose container image: a static binary on an empty base, run as a
# non-root user. Build with
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t flowhose .
# The image has no shell, so it declares no HEALTHCHECK: use the
# orchestrator's probes on /healthz (liveness) and /readyz (readiness).
# The same build flags are exercised by TestStaticBuild in cmd/flowhose.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/flowhose ./cmd/flowhose \
 && mkdir -p /out/data

FROM scratch
# CA roots for HTTPS to Elasticsearch, the AWS APIs and ip-ranges.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/flowhose /flowhose
# The working directory holds the dead-letter file by default; mount a
# volume here to keep it across restarts.
COPY --from=build --chown=65532:65532 /out/data /var/lib/flowhose
WORKDIR /var/lib/flowhose
USER 65532:65532
# flowhose listens on loopback by default; in a container it must take
# connections from outside, which makes sources.firehose.access_keys
# required (or allow_unauthenticated, deliberately).
ENV FLOWHOSE_HTTP_LISTEN=:8080
EXPOSE 8080
ENTRYPOINT ["/flowhose"]
CMD ["serve"]
