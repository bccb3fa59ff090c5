"""The database unreachable: the API answers the contract's JSON 503, the portal a styled 503 page.

The first tests run gunicorn on the production settings with DATABASE_URL pointing at a port no
database listens on, as a deployment sees an outage; the rest run in-process, with the
connection made to fail, for what the subprocess cannot show (DEBUG, the queries a page makes).
"""

import json

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import path

from config import urls as project_urls
from tests.servers import Gunicorn, closed_port


def explode(request):
    raise RuntimeError("boom")


# This module is also a urlconf (pytest.mark.urls): the project's, with the project's error handlers,
# plus views that crash.
urlpatterns = [*project_urls.urlpatterns, path("api/test/explode", explode), path("test/explode", explode)]
for _name in ("handler400", "handler403", "handler404", "handler500"):
    if hasattr(project_urls, _name):
        globals()[_name] = getattr(project_urls, _name)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site with its database unreachable (Redis unset: a memory cache, tasks in-process)."""
    tmp = tmp_path_factory.mktemp("database-down")
    unreachable = f"postgres://postgres@127.0.0.1:{closed_port()}/gatehouse"
    env = {"DATABASE_URL": unreachable, "API_RATE_LIMIT_DEFAULT": "100/m"}
    server = Gunicorn(tmp, env)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/billing/plans", None),
        ("POST", "/api/login", {"email": "alice@example.com", "password": "whatever-it-is"}),
        ("POST", "/api/register", {"email": "new@example.com", "username": "new", "password": "a-long-passphrase-42"}),
    ],
)
def test_the_api_answers_json_503_with_retry_after(site, method, path, body):
    status, headers, text, _ = site.request(method, path, body)

    assert status == 503, text
    assert headers["Content-Type"] == "application/json"
    assert json.loads(text) == {"detail": "The service is temporarily unavailable. Please try again in a minute."}
    assert headers["Retry-After"] == "30"


def test_a_portal_page_answers_the_styled_503_page(site):
    status, headers, text, _ = site.request("GET", "/billing/pricing/")

    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Retry-After"] == "30"
    assert 'href="/static/css/gatehouse.css"' in text, "the layout, styled"
    assert "Gatehouse is temporarily unavailable" in text
    assert "Sign in" not in text, "no links into what cannot work now"


def test_a_page_that_needs_no_database_still_works(site):
    status, _, text, _ = site.request("GET", "/")
    assert status == 200
    assert "Gatehouse" in text


def test_each_refusal_is_logged_once_as_one_structured_line(site):
    before = len(site.log_lines())
    _, headers, _, _ = site.request("GET", "/api/billing/plans")

    (line,) = site.log_lines()[before:]  # one worker: every line since is this request's
    assert (line["logger"], line["level"], line["status"]) == ("gatehouse.request", "ERROR", 503)
    assert line["request_id"] == headers["X-Request-ID"]
    assert line["error"] == "OperationalError"
    assert "exc_info" not in line, "an outage is not a traceback per request"


# --- in-process ---------------------------------------------------------------------------------


@pytest.fixture
def database_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 1 failed: Connection refused')

    monkeypatch.setattr(connection, "ensure_connection", refuse)


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_503_page_is_rendered_without_the_database(signed_in, database_down):
    # The session is in the cache; the user, the nav's subscription and the page's data are not.
    response = signed_in.get("/billing/subscription/")

    assert response.status_code == 503
    assert "Gatehouse is temporarily unavailable" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_the_api_answers_json_503_also_under_debug(client, database_down, settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/billing/plans")

    assert response.status_code == 503
    assert response.json() == {"detail": "The service is temporarily unavailable. Please try again in a minute."}
    assert response["Retry-After"] == "30"


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_json_404_also_under_debug(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/no-such-endpoint")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("debug", [False, True])
def test_an_api_crash_is_json_500_also_under_debug(settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/test/explode")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}


@pytest.mark.urls(__name__)
def test_a_portal_crash_is_still_the_styled_500_page():
    response = Client(raise_request_exception=False).get("/test/explode")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
