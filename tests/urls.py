"""The project's URLs plus views that fail on purpose, to exercise the error pages."""

from django.core.exceptions import PermissionDenied
from django.urls import path
from django_ratelimit.decorators import ratelimit

from config.urls import handler404, handler500  # noqa: F401 - Django reads them from ROOT_URLCONF
from config.urls import urlpatterns as project_urlpatterns


def explode(request):
    raise RuntimeError("boom")


def forbidden(request):
    raise PermissionDenied


@ratelimit(key="ip", rate="1/m", block=True)
def limited(request):
    from django.http import HttpResponse

    return HttpResponse("ok")


urlpatterns = [
    *project_urlpatterns,
    path("test/explode", explode),
    path("test/forbidden", forbidden),
    path("test/limited", limited),
]
