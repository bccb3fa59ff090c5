"""The bench-only URLconf (bench.settings): every real route, plus the two baselines.

Never included by config.urls: the baselines exist only while `make bench` runs.
"""

from django.urls import path

from bench import views
from config.urls import handler404  # noqa: F401 - Django reads the 404 view from the root URLconf
from config.urls import urlpatterns as real_urlpatterns

urlpatterns = [
    path("bench/baseline/template", views.baseline_template, name="bench-baseline-template"),
    path("bench/baseline/json", views.baseline_json, name="bench-baseline-json"),
    *real_urlpatterns,
]
