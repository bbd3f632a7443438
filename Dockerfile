# syntax=docker/dockerfile:1
# social-triage: one image for every role, chosen by the command:
#   docker run IMAGE                      -> `triage worker` (the default CMD)
#   docker run IMAGE source webhook       -> a source adapter (any of x, bluesky, mastodon, facebook, reddit,
#                                            rss, webhook, replay, generate)
#   docker run IMAGE top --url http://worker:6066/metrics
# The ops API (/api/...) is served by every worker on TRIAGE_WEB_PORT: there is no separate process for it.
#
# Build: docker build -t social-triage:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: a wheel of the project, installed with its runtime dependencies into /opt/venv ------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# Every runtime dependency ships a manylinux wheel for CPython 3.11, so no compiler is needed even here;
# should a platform lack one, add `apt-get install gcc libc6-dev` to this stage only.
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the package is built from (see .dockerignore): the classifier model ships as package data
# (classifiers/models/default/), as do the routing rules (stream/tickets/default_rules.yaml), the SLA
# policy (stream/ops/default_sla.yaml) and the sample stream (stream/data/sample_posts.jsonl.gz).
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY classifiers ./classifiers
COPY schemas ./schemas
# The plain package: no `embeddings` (torch), `test` or `bench` extras, no embedded broker.
RUN /opt/venv/bin/pip install --upgrade pip setuptools wheel \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install /wheels/social_triage-*.whl \
 && /opt/venv/bin/pip uninstall -y pip setuptools wheel

# --- runtime: the venv and nothing else ---------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="social-triage" \
      org.opencontainers.image.description="Kafka-native social customer-care triage" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 triage \
 && useradd --system --uid 10001 --gid triage --home-dir /var/lib/triage --shell /usr/sbin/nologin triage \
 && mkdir -p /var/lib/triage \
 && chown triage:triage /var/lib/triage
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRIAGE_DATA_DIR=/var/lib/triage \
    TRIAGE_WEB_HOST=0.0.0.0 \
    TRIAGE_WEB_PORT=6066 \
    TRIAGE_SOURCE_METRICS_PORT=6067 \
    TRIAGE_SOURCE_LISTEN_HOST=0.0.0.0 \
    TRIAGE_SOURCE_LISTEN_PORT=8088
# TRIAGE_WEB_HOST / TRIAGE_SOURCE_LISTEN_HOST: the service binds 127.0.0.1 by default (safe on a laptop);
# inside a container that address is unreachable from Prometheus, probes and other containers, so the
# image listens on all interfaces and the network (compose network, Kubernetes Service) does the fencing.
WORKDIR /var/lib/triage
USER 10001:10001
# 6066: worker /metrics, /healthz, /readyz and the ops API; 6067: a source's /metrics and /healthz;
# 8088: push sources (webhook ingest, Meta webhooks).
EXPOSE 6066 6067 8088
# curl is not in slim images: Python's urllib asks /healthz (an HTTP error or no answer exits non-zero).
# The port follows the role of PID 1: a source serves /healthz on TRIAGE_SOURCE_METRICS_PORT (503 while its
# stream or listener is down), everything else on TRIAGE_WEB_PORT. `source generate` serves no /healthz:
# turn the check off for it (compose: healthcheck: disable: true).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; argv = open('/proc/1/cmdline').read().split('\\0'); port = os.environ.get('TRIAGE_SOURCE_METRICS_PORT', '6067') if 'source' in argv else os.environ.get('TRIAGE_WEB_PORT', '6066'); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
ENTRYPOINT ["triage"]
CMD ["worker"]
