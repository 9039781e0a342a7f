# One image for the hub and the agent: `fleetsync hub run …` / `fleetsync agent run …`
# (deploy/ runs it; README "Run it in a cluster").
#
# - The build stage copies exactly what the wheel is made of, and no more: the packages, the
#   shipped policies/ and fleet-repo-template/ (pyproject's data-files) and the README (the
#   package's long description). kubesim/ is left out on purpose: setuptools packages only what
#   it finds, so the image's wheel has no kubesim, while a wheel built from a full checkout keeps
#   it for `fleetsync demo` and `fleetsync dev`, the only commands that import it (lazily).
#   .dockerignore admits the same paths; tests/deploy/test_dockerfile.py builds the wheel from
#   exactly these COPY lines and checks both.
# - kubectl (the hub renders kustomizations with `kubectl kustomize`) is an official release
#   binary pinned by version and sha256 and checked with `sha256sum -c` before it is used.
# - Runtime: a fixed numeric non-root user, and no writes outside HOME and /tmp, so the root
#   filesystem can be read-only. Mount writable volumes (emptyDir) at /tmp and at
#   /home/fleetsync (HOME: the hub's and the agent's git caches default to ~/.cache/fleetsync).
#
# The base is pinned by digest; refresh it deliberately with
#   docker buildx imagetools inspect python:3.12-slim
# No Docker engine runs on the development machines, so this file is kept simple and is
# built where an engine exists.

FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fleetsync ./fleetsync
COPY reconciler ./reconciler
COPY agent ./agent
COPY fleetsync_contract ./fleetsync_contract
COPY policies ./policies
COPY fleet-repo-template ./fleet-repo-template
# The build context has no .git, so setuptools-scm cannot read the release tag: say it
# (docker build --build-arg FLEETSYNC_VERSION=0.1.0 .); without it the image says 0.1.0.dev0.
ARG FLEETSYNC_VERSION=0.1.0.dev0
ENV SETUPTOOLS_SCM_PRETEND_VERSION=${FLEETSYNC_VERSION}
# fleetsync's wheel and a wheel of each runtime dependency (never the [test] extra).
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea AS kubectl
# PINNED BINARY: to move to another release, set all three from
#   https://dl.k8s.io/release/<version>/bin/linux/<arch>/kubectl.sha256
# (the project's machines cannot reach that host, so these values were taken from several
# public projects that pin the same release and agree; the build fails closed on a mismatch).
# Debian's `kubernetes-client` package is not used: bookworm's is kubectl 1.20, whose kustomize
# (v2) cannot build kustomizations that use `patches:` (fleet-repo-template's does).
ARG KUBECTL_VERSION=v1.36.0
ARG KUBECTL_SHA256_AMD64=123d8c8844f46b1244c547fffb3c17180c0c26dac9890589fe7e67763298748e
ARG KUBECTL_SHA256_ARM64=9f9d9c44a7b5264515ac9da5991584e2395bd50662e651132337e7b4d0c56f8f
ARG TARGETARCH=amd64
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl /kubectl
RUN case "${TARGETARCH}" in \
      amd64) sum="${KUBECTL_SHA256_AMD64}" ;; \
      arm64) sum="${KUBECTL_SHA256_ARM64}" ;; \
      *) echo "no kubectl sha256 pinned for ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && echo "${sum}  /kubectl" | sha256sum -c - \
 && chmod 0755 /kubectl

FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
# A fixed numeric non-root user, so Kubernetes can verify runAsNonRoot; ssh needs the uid in /etc/passwd.
RUN useradd --uid 65532 --user-group --create-home --home-dir /home/fleetsync fleetsync
USER 65532:65532
# Bytecode was compiled at install time; never try to write it beside the read-only sources.
ENV HOME=/home/fleetsync TMPDIR=/tmp PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/fleetsync
ENTRYPOINT ["fleetsync"]
CMD ["--help"]
