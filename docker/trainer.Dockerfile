# Trainer image: runs `python -m ml train` (the TFT + tf_keras training step) in a container.
# Build with `make trainer-image` (docker/build-trainer-image.sh); the context is the repo root.
#
#   BASE_IMAGE  tensorflow/tensorflow:2.16.2-gpu (default: TF + CUDA from the base image), or
#               any Debian/Ubuntu image with Python 3.11 + pip, e.g. the registry-free
#               local/python:3.11-bookworm that `make base-image` builds.
#   TF_PACKAGE  base            -> use the TensorFlow the base image ships (TF images)
#               tensorflow-cpu  -> install tensorflow-cpu at the lock's version (smaller, no GPU)
#               tensorflow      -> install the lock's tensorflow wheel as is
# Python packages come from docker/trainer-requirements.txt: a sub-lock of requirements.txt
# (same versions), installed with --no-deps because it is a complete closure.
# Metadata steps come before the heavy pip layer: with the vfs storage driver every step after
# it copies the whole file system.
ARG BASE_IMAGE=tensorflow/tensorflow:2.16.2-gpu
FROM ${BASE_IMAGE}

ARG TF_PACKAGE=base
# Only set when given (an empty PIP_INDEX_URL would break pip).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG VARIANT=""
ARG LOCK_SHA=""
LABEL org.opencontainers.image.title="ml-trainer" \
      org.opencontainers.image.description="python -m ml train (TFT + tf_keras)" \
      ml.trainer.base="${VARIANT}" ml.trainer.lock="${LOCK_SHA}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    HOME=/home/trainer \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONWARNINGS=ignore::FutureWarning \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180
WORKDIR /app
ENTRYPOINT ["python", "-m", "ml", "train"]

# Extra CA certificates (e.g. a TLS-intercepting egress proxy): docker/certs/*.crt, optional.
# Non-root user `trainer`; the Airflow operator runs the container as the host uid:gid instead
# so files written into the bind-mounted artifact root belong to the host user (HOME is
# writable for any uid).
USER root
COPY docker/certs/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates >/dev/null && \
    useradd --uid 1000 --no-create-home --home-dir /home/trainer --shell /usr/sbin/nologin \
        trainer && \
    mkdir -p /home/trainer /opt/venv && chmod 1777 /home/trainer && chown trainer /opt/venv
USER trainer

# A venv that also sees the base image's site-packages (its TensorFlow when TF_PACKAGE=base).
# Debian's pip refuses system installs (PEP 668); `pip --python` installs into the venv.
COPY docker/trainer-requirements.txt /tmp/trainer-requirements.txt
RUN set -eu; \
    python3 -m venv --system-site-packages --without-pip /opt/venv; \
    tf_pin=$(grep -E '^tensorflow==' /tmp/trainer-requirements.txt); \
    case "$TF_PACKAGE" in \
      base) grep -vE '^tensorflow==' /tmp/trainer-requirements.txt > /tmp/req.txt; \
            python -c "import tensorflow as tf, sys; v = tf.__version__; \
want = '${tf_pin#tensorflow==}'; \
sys.exit(0 if v == want else f'base TensorFlow {v} != lock {want}: use TF_PACKAGE=tensorflow-cpu')" ;; \
      tensorflow-cpu) sed -E 's/^tensorflow==/tensorflow-cpu==/' \
            /tmp/trainer-requirements.txt > /tmp/req.txt ;; \
      tensorflow) cp /tmp/trainer-requirements.txt /tmp/req.txt ;; \
      *) echo "TF_PACKAGE must be base, tensorflow or tensorflow-cpu" >&2; exit 1 ;; \
    esac; \
    python3 -m pip --python /opt/venv/bin/python install --no-cache-dir --no-deps -q \
        -r /tmp/req.txt; \
    rm -f /tmp/req.txt

COPY ml/ /app/ml/
# Fails the build when a command module or the training stack cannot be imported here.
RUN python -m ml train --help >/dev/null && python -c "import tensorflow_transform, tf_keras"
