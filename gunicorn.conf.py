"""Gunicorn settings for the image (Dockerfile CMD: `gunicorn -c gunicorn.conf.py config.wsgi:application`).

Proxy headers are trusted from the addresses in FORWARDED_ALLOW_IPS only (comma-separated IPs or
CIDR networks; default loopback, gunicorn's own default). From those peers gunicorn honours
X-Forwarded-Proto (and -Ssl/-Protocol) and sets the WSGI scheme to https, which is what Django's
`request.is_secure()` reads. Gunicorn does not remove the headers from other peers: it only ignores
them for its own scheme, and still hands them to Django as HTTP_X_FORWARDED_*. So the
`pre_request` hook below drops them, and X-Forwarded-For/-Host, from every peer not in the list:
a client that reaches the container directly can then fake neither https (not even with
USE_X_FORWARDED_PROTO=True) nor its address for the rate limits (TRUSTED_PROXY_COUNT).
"""

import functools
import ipaddress
import os

# Compose passes `NAME=` lines of an env file as "", which means unset (as in config/settings.py).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or 3)
timeout = 30
# SIGTERM: workers get this long to finish in-flight requests before they are killed. The
# orchestrator's grace period must be longer (docker-compose.yml: stop_grace_period 40s; Docker's
# own default is 10 s, Kubernetes' terminationGracePeriodSeconds 30 s: set 40).
graceful_timeout = 30
# The workers' heartbeat files live in RAM, not in /tmp: the image runs with a read-only root
# filesystem (docker run --read-only), where /dev/shm is still a writable tmpfs. (Not every
# development machine has one: macOS keeps gunicorn's default there.)
SHARED_MEMORY = "/dev/shm"  # noqa: S108 - a tmpfs gunicorn only keeps its own open, unlinked files in
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
# No access log: the app writes one structured line per request itself (config/logging.py).
accesslog = None
# Worker recycling (--max-requests) is on the Dockerfile's command line, not here: gunicorn reads
# ./gunicorn.conf.py by itself whenever it is started from the repository without -c, and
# `make bench` (bench/run.py) does that and must not recycle workers (it measures their peak RSS).

# Upper-case, as gunicorn names request headers: the scheme headers gunicorn knows
# (secure_scheme_headers) and the forwarding headers a proxy appends to.
PROXY_HEADERS = frozenset(
    {"X-FORWARDED-PROTO", "X-FORWARDED-PROTOCOL", "X-FORWARDED-SSL", "X-FORWARDED-FOR", "X-FORWARDED-HOST", "FORWARDED"}
)


@functools.cache
def _networks(allowed: tuple[str, ...]) -> tuple:
    # Gunicorn has validated every entry at start-up (a bad one stops it there).
    return tuple(ipaddress.ip_network(entry) for entry in allowed if entry != "*")


def peer_is_trusted(peer, allowed: list[str]) -> bool:
    """Gunicorn's own rule: a Unix-socket peer is trusted, "*" trusts all, else the address must be listed."""
    if not isinstance(peer, tuple) or "*" in allowed:
        return True
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(allowed)))


def pre_request(worker, req):
    if not peer_is_trusted(req.peer_addr, worker.cfg.forwarded_allow_ips):
        req.headers = [(name, value) for name, value in req.headers if name not in PROXY_HEADERS]
