import json
import logging

import pytest

pytestmark = pytest.mark.django_db


def _request_lines(caplog):
    return [record for record in caplog.records if record.name == "gatehouse.request"]


def test_it_logs_one_structured_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.request")
    response = client.get("/")
    [line] = _request_lines(caplog)
    assert line.getMessage() == "request"
    assert (line.method, line.path, line.status) == ("GET", "/", 200)
    assert isinstance(line.duration_ms, float)
    assert line.user_id is None
    assert line.request_id == response["X-Request-ID"]


def test_it_names_the_signed_in_user(client, caplog, user):
    client.force_login(user)
    caplog.set_level(logging.INFO, logger="gatehouse.request")
    client.get("/")
    [line] = _request_lines(caplog)
    assert line.user_id == user.pk


def test_it_never_logs_query_strings_cookies_or_bodies(client, caplog, user):
    caplog.set_level(logging.INFO, logger="gatehouse.request")
    client.cookies["sessionid"] = "cookie-value-that-must-not-appear"
    client.post("/healthz?token=secret-token-value", {"password": "secret-password-value"})
    [line] = _request_lines(caplog)
    logged = json.dumps(vars(line), default=str)
    for secret in ("secret-token-value", "secret-password-value", "cookie-value-that-must-not-appear"):
        assert secret not in logged
    assert line.path == "/healthz"


def test_it_keeps_a_well_formed_request_id_from_the_proxy(client):
    response = client.get("/", headers={"X-Request-ID": "edge-1234abcd"})
    assert response["X-Request-ID"] == "edge-1234abcd"


def test_it_replaces_a_malformed_request_id(client):
    response = client.get("/", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


def test_the_json_formatter_writes_one_parseable_line(caplog):
    from pythonjsonlogger.json import JsonFormatter

    record = logging.LogRecord("gatehouse.request", logging.INFO, __file__, 1, "request", None, None)
    record.path, record.status = "/", 200
    line = JsonFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "levelname": "INFO",
        "name": "gatehouse.request",
        "message": "request",
        "path": "/",
        "status": 200,
    }


def test_it_masks_keys_in_verification_and_reset_links(client, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.request")
    client.get("/accounts/confirm-email/MQ:1xVlPa:secret-confirmation-key/")
    client.get("/accounts/password/reset/key/1a-secret-reset-key/")
    paths = [line.path for line in _request_lines(caplog)]
    assert paths == ["/accounts/confirm-email/[redacted]/", "/accounts/password/reset/key/[redacted]-[redacted]/"]
