# syntax=docker/dockerfile:1
#
# Gatehouse container image.
#
#   docker build -t gatehouse .
#
# One image serves every role; the command decides which:
#   web     (default CMD)  gunicorn -c gunicorn.conf.py config.wsgi:application
#   worker                 celery -A config worker -l info
#   beat                   celery -A config beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler
#   migrate                python manage.py migrate --noinput
# See docker-compose.yml for all of them wired together.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm


# --------------------------------------------------------------------------
# Stage 1: build wheels for every runtime requirement.
# Compilers and headers live only in this stage and never reach the runtime
# image. (All pinned packages currently ship manylinux wheels, so this is
# mostly a download step; the toolchain is here for the day one does not.)
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt


# --------------------------------------------------------------------------
# Stage 2: runtime.
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    DJANGO_ENV=production \
    WEB_CONCURRENCY=3

# Unprivileged user with a fixed uid/gid, so volume permissions are
# predictable across hosts.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app \
        --home-dir /home/app --create-home --shell /usr/sbin/nologin app

# Install from the wheels built above, offline. The wheel directory is
# bind-mounted from the builder stage (BuildKit) rather than COPY'd, so the
# .whl files do not add a layer to the final image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    pip install --no-index --find-links=/wheels -r /tmp/requirements.txt

WORKDIR /app

# Code is owned by root and read-only for the app user; only staticfiles/
# and logs/ are writable by it.
COPY . /app

# Collect static files at build time, as the app user so the output is owned
# by it.
#
# This MUST run with DJANGO_ENV=production: the staticfiles storage depends on
# DJANGO_ENV (production: whitenoise CompressedManifestStaticFilesStorage,
# development: plain StaticFilesStorage). Collected in development mode there
# is no staticfiles.json manifest and every production page using {% static %}
# fails with "Missing staticfiles manifest entry". Production settings refuse
# to load without SECRET_KEY/ALLOWED_HOSTS/DATABASE_URL/REDIS_URL/EMAIL_URL, so this one
# command gets throwaway placeholders. collectstatic connects to neither the
# database, Redis nor the mail server, and none of these values is kept in the image's
# environment (they are visible in `docker history`, and are not secrets).
# The settings create logs/gatehouse.log on import; it is removed again so
# the image ships an empty logs directory.
RUN mkdir -p /app/staticfiles /app/logs \
    && chown app:app /app/staticfiles /app/logs
USER app
RUN DJANGO_ENV=production \
    SECRET_KEY=build-time-placeholder-for-collectstatic-only-not-a-secret-0123456789 \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build:build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    EMAIL_URL=smtp://127.0.0.1:1 \
        python manage.py collectstatic --noinput \
    && test -f /app/staticfiles/staticfiles.json \
    && find /app/logs -mindepth 1 -delete

EXPOSE 8000

# Liveness only (/livez: the process serves; no database, cache or broker), so a Redis or
# database blip does not restart a serving container; load balancers use /readyz (README,
# "Probes"). No curl in slim images: the interpreter fetches it, and urlopen raises on a non-2xx
# answer or a refused connection, which fails the check. config.probes.ProbeMiddleware answers
# the probes before host validation, so the Host (127.0.0.1) needs no ALLOWED_HOSTS entry and
# works with ALLOWED_HOSTS_FILE. Worker/beat/migrate containers reuse this image and must
# override or disable this check (docker-compose.yml does).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8000/livez', timeout=8)"]

# gunicorn.conf.py holds the server's settings: bind 0.0.0.0:8000, WEB_CONCURRENCY workers
# (default 3), timeout, no access log (the app writes one structured line per request), and
# FORWARDED_ALLOW_IPS: the proxies whose X-Forwarded-Proto/-For are believed (default loopback
# only, so a client that reaches port 8000 directly cannot claim https). Worker recycling stays
# here (see gunicorn.conf.py for why). Exec form: gunicorn is PID 1 and receives SIGTERM directly
# for a graceful shutdown.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "--max-requests", "1000", "--max-requests-jitter", "100", "config.wsgi:application"]
