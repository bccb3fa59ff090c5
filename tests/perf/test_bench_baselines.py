"""The bench's baselines: one indexed query each, and never routed by the real URLconf."""

import copy

import pytest
from django.test import override_settings
from django.urls import Resolver404, resolve

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/bench/baseline/template", "/bench/baseline/json"])
def test_the_real_urlconf_does_not_route_the_baselines(path):
    with pytest.raises(Resolver404):
        resolve(path)


@override_settings(ROOT_URLCONF="bench.urls")
def test_the_template_baseline_renders_a_plan_with_one_query(client, settings, django_assert_num_queries):
    templates = copy.deepcopy(settings.TEMPLATES)  # as bench.settings adds the bench's templates
    templates[0]["DIRS"] = [*templates[0]["DIRS"], settings.BASE_DIR / "bench" / "templates"]
    settings.TEMPLATES = templates

    with django_assert_num_queries(1):  # the plan by its unique code
        response = client.get("/bench/baseline/template")

    assert response.status_code == 200
    assert "<h1>Pro</h1>" in response.content.decode()


@override_settings(ROOT_URLCONF="bench.urls")
def test_the_json_baseline_returns_a_plan_with_one_query(client, django_assert_num_queries):
    with django_assert_num_queries(1):  # the plan by its unique code
        response = client.get("/bench/baseline/json")

    assert response.json() == {"code": "pro-monthly", "name": "Pro", "price_cents": 1900, "currency": "usd"}


@override_settings(ROOT_URLCONF="bench.urls")
def test_the_bench_urlconf_still_serves_every_real_route(client):
    assert client.get("/billing/pricing/").status_code == 200
