# syntax=docker/dockerfile:1
#
# lpa images. Targets:
#   cpa     (default) the Custom Pod Autoscaler image: CPA v2 runs /lpa metric
#           and /lpa evaluate as shell hooks (deploy/cpa/config.yaml).
#   locust  cpa + Python and a pinned Locust, for existing locustfiles
#           (the Locust load driver; loadDriver=auto picks it when
#           locustFilePath exists).
#   run     lpa alone with kubectl, for `lpa run --scaler kubectl` as a
#           plain Deployment (deploy/run/).
#
#   docker build -t lpa .                      # cpa
#   docker build -t lpa-locust --target locust .
#   docker build -t lpa-run --target run .
#
# Every base is pinned. The binary is built static (musl) so it runs on any
# of the bases below; CI checks the same static build and config without
# Docker (scripts/check-image.sh).

ARG RUST_IMAGE=rust:1.95.0-alpine3.22
ARG CPA_IMAGE=custompodautoscaler/alpine:v2.12.2
# The kubectl the tests run (scripts/setup-tools.sh pins the same release).
ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.37.1
ARG ALPINE_IMAGE=alpine:3.22.2
ARG LOCUST_VERSION=2.47.0

FROM ${RUST_IMAGE} AS build
# musl-dev: the C runtime the static link needs (ring/libc crates).
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# rust:alpine targets x86_64-unknown-linux-musl, which links statically.
RUN cargo build --release --locked --bin lpa \
    && cp target/release/lpa /lpa \
    && /lpa --version

FROM ${KUBECTL_IMAGE} AS kubectl

FROM ${CPA_IMAGE} AS cpa
COPY --from=build /lpa /lpa
# stateConfigMap: lpa evaluate keeps the state's copy in a ConfigMap with it.
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY deploy/cpa/config.yaml /config.yaml
# The original's names and defaults; the state lives in its own directory so
# the root filesystem can be read-only (mount an emptyDir at /var/lib/lpa),
# which is kubectl's $HOME too (its cache).
# No locustRunTime, locustUsers or locustHatchRate: lpa's defaults are the
# same (5 s, 10 users, 10/s), and an env var set here would win over the
# evaluation config's load: section, and disagree with a locustSpawnRate
# set in the CustomPodAutoscaler's config.
ENV configPath=/config.yaml \
    locustFilePath=/locustfile.py \
    evaluationConfigFilePath=/evaluation_config.yaml \
    decayInfoFilePath=/var/lib/lpa/decay_info.json \
    HOME=/var/lib/lpa
RUN mkdir -p /var/lib/lpa && chown 65532:65532 /var/lib/lpa
USER 65532:65532

FROM cpa AS locust
ARG LOCUST_VERSION
USER 0
# Locust's compiled dependencies (gevent, greenlet, psutil, pyzmq,
# msgpack) ship musllinux wheels, and zope.interface, which has none, falls
# back to pure Python without a compiler (its setup.py's
# optional_build_ext): no build tools are installed.
RUN apk add --no-cache python3 \
    && python3 -m venv /opt/locust \
    && /opt/locust/bin/pip install --no-cache-dir "locust==${LOCUST_VERSION}" \
    && /opt/locust/bin/locust --version
# The Locust driver keeps Locust's stats in a temp directory; with a
# read-only root filesystem only the state directory is writable.
ENV PATH=/opt/locust/bin:$PATH \
    LOCUST_BIN=/opt/locust/bin/locust \
    TMPDIR=/var/lib/lpa
USER 65532:65532

FROM ${ALPINE_IMAGE} AS run
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=build /lpa /lpa
RUN mkdir -p /var/lib/lpa && chown 65532:65532 /var/lib/lpa
# kubectl keeps its discovery cache under $HOME/.kube: on the read-only
# root it could keep none and asked the API server's discovery again on
# every call (three discovery requests before each, against a stand-in).
ENV evaluationConfigFilePath=/etc/lpa/evaluation_config.yaml \
    decayInfoFilePath=/var/lib/lpa/decay_info.json \
    HOME=/var/lib/lpa
USER 65532:65532
ENTRYPOINT ["/lpa"]
CMD ["run", "--scaler", "kubectl", "--help"]

# The default target is the CPA image, as the seed guide's example expects.
FROM cpa
