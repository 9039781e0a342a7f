# One image for the hub and the agent: `fleetsync hub run …` / `fleetsync agent run …`.
# The base is pinned by digest; refresh it deliberately with
#   docker buildx imagetools inspect python:3.12-slim
# No Docker engine runs on the development machines, so this file is kept simple and is
# built where an engine exists.

FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
COPY agent ./agent
COPY kubesim ./kubesim
COPY fleetsync_contract ./fleetsync_contract
COPY policies ./policies
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# A fixed numeric non-root user, so Kubernetes can verify runAsNonRoot.
RUN useradd --uid 65532 --user-group --create-home --home-dir /home/fleetsync fleetsync
USER 65532:65532
ENV HOME=/home/fleetsync PYTHONUNBUFFERED=1
WORKDIR /home/fleetsync
ENTRYPOINT ["fleetsync"]
CMD ["--help"]
