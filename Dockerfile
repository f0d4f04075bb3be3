# The mistral-executor web app (Gradio) on port 7860, as a non-root user with uid 1000 -- the
# layout Hugging Face Docker Spaces expect, and fine anywhere else:
#
#   docker build -t mistral-executor-app .
#   docker run --rm -p 7860:7860 -e MISTRAL_API_KEY=... mistral-executor-app
#
# BASE_IMAGE is any Debian-based image with Python 3.11. Where no image registry is reachable,
# build on a locally made base instead (sandbox/docker/build-image.sh debootstraps one):
#
#   docker build --build-arg BASE_IMAGE=mistral-executor-base:bookworm-<hash> -t mistral-executor-app .
#
# EXTRA_CA_PEM: PEM certificates to trust *during the build only* (a TLS-intercepting proxy in
# front of PyPI). They are used for pip and not installed in the image.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG EXTRA_CA_PEM=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive

# The official python images ship venv and pip; a bare Debian base gets them from apt.
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv \
    && useradd --create-home --uid 1000 --shell /bin/bash user

ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them.
WORKDIR /home/user/app
COPY pyproject.toml README.md ./
RUN set -e; \
    cert_args=""; \
    if [ -n "$EXTRA_CA_PEM" ]; then \
        bundle=/tmp/build-ca.pem; \
        cat "$(python -c 'import pip._vendor.certifi as c; print(c.where())')" > "$bundle"; \
        printf '%s\n' "$EXTRA_CA_PEM" >> "$bundle"; \
        cert_args="--cert $bundle"; \
    fi; \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt; \
    pip install $cert_args --upgrade pip "setuptools>=77"; \
    pip install $cert_args -r /tmp/requirements.txt; \
    rm -f /tmp/requirements.txt /tmp/build-ca.pem

COPY app ./app
COPY executor ./executor
COPY mistral_executor ./mistral_executor
COPY plugins ./plugins
COPY sandbox ./sandbox
COPY app.py ./
# Installed by root and left read-only: the app's own code is not writable by the user it runs as.
RUN pip install --no-deps --no-build-isolation . && rm -rf build *.egg-info

USER user
ENV HOME=/home/user \
    MISTRAL_EXECUTOR_HOME=/home/user/.mistral-executor \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ['GRADIO_SERVER_PORT'], timeout=4)"

# Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT above (overridable with -e).
CMD ["mistral-executor", "ui"]
