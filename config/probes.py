"""Answers the orchestrator's probes before anything reads the Host header.

A load balancer or kubelet probes an instance by its IP (``Host: 10.1.2.3``), and the image's own
HEALTHCHECK by 127.0.0.1; neither is a name in ALLOWED_HOSTS, so SecurityMiddleware and
CommonMiddleware (which call ``request.get_host()``) would answer 400, and SECURE_SSL_REDIRECT would
send a plain-HTTP probe to https. This middleware comes first in MIDDLEWARE and answers exactly
``GET``/``HEAD`` ``/livez`` and ``/readyz`` itself, never calling ``get_host()``. Every other request,
including any other method or path (``/livez/``, ``/healthz``), goes on through host validation as before.
Probe answers are not written to the request log (one line per probe per instance is noise).
"""

from django.http import HttpResponse

from config import views

PROBES = {"/livez": views.livez, "/readyz": views.readyz}
METHODS = frozenset({"GET", "HEAD"})


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is None or request.method not in METHODS:
            return self.get_response(request)
        response = probe(request)
        if request.method == "HEAD":
            # Django's WSGI handler sends a body with HEAD; a probe's answer is its status.
            head = HttpResponse(status=response.status_code)
            for name, value in response.items():
                head[name] = value
            head["Content-Length"] = str(len(response.content))
            return head
        return response
