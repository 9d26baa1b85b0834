# One image for every role of the farm; the command picks the role:
#   codex-farm adapter | codex-farm worker | codex-farm mcp | celery -A tasks.celery_app flower
# Build: docker build -t codex-farm:local .   (docker-compose.yml builds it for you)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git: mirrors, worktrees, snapshots and bundles; ca-certificates: TLS to gateways, git remotes and
# rediss://; tini: PID 1 that forwards SIGTERM (a worker's warm shutdown) and reaps the agents' orphans;
# bubblewrap: the agents' sandbox (WORKER_SANDBOX=bwrap; inside a container it needs an unmasked
# /proc and user namespaces, see deploy/README.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini bubblewrap \
 && rm -rf /var/lib/apt/lists/*

# The package and exactly its locked runtime dependencies (no dev extras, hash-checked); the source is
# not kept in the image.
COPY . /tmp/src
RUN pip install --require-hashes --no-deps -r /tmp/src/requirements/runtime.txt \
 && pip install --no-deps --no-build-isolation /tmp/src \
 && rm -rf /tmp/src

# An unprivileged user with a numeric id (Kubernetes' runAsNonRoot can check it). The cache and
# metrics folders exist in the image so that named volumes mounted on them inherit this owner.
RUN groupadd --system --gid 10001 farm \
 && useradd --system --uid 10001 --gid farm --home-dir /var/lib/codex-farm --create-home --shell /bin/bash farm \
 && install -d -o farm -g farm -m 0755 /var/lib/codex-farm \
 && install -d -o farm -g farm -m 0750 /var/lib/codex-farm/cache /var/lib/codex-farm/metrics

ENV HOME=/var/lib/codex-farm \
    SHELL=/bin/bash \
    WORKER_CACHE_DIR=/var/lib/codex-farm/cache
WORKDIR /var/lib/codex-farm
USER 10001:10001

# 8787: MCP frontend (HTTP), 8788: adapter, 5555: Flower
EXPOSE 8787 8788 5555
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["codex-farm", "--help"]
