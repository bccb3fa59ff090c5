"""A loopback fake Stripe: ``FakeStripe`` serves ``state.FakeStripeState`` over HTTP on 127.0.0.1.

Put ``fake.api_base`` in ``stripe.api_base`` and the real SDK talks to it as it would to Stripe:
form-encoded requests, Bearer ``sk_test_`` keys, JSON objects and errors in Stripe's shapes. On top of
the endpoints it adds what only the HTTP layer can do: auth and API-version checks, idempotency keys,
a request log, and injected failures (errors, slow answers, outages).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import urlsplit

import stripe

from . import objects
from .errors import StripeFault
from .params import parse_form, schema_for, validate
from .state import FakeStripeState

RECORDED_HEADERS = ("Stripe-Version", "Idempotency-Key", "Stripe-Account")
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")

# What an injected failure looks like by default, per status, as Stripe would send it.
_DEFAULT_FAILURES = {
    400: ("invalid_request_error", None, "Invalid request (injected by the fake Stripe)."),
    401: ("invalid_request_error", None, "Invalid API Key provided: sk_test_****fake"),
    402: ("card_error", "card_declined", "Your card was declined."),
    403: ("invalid_request_error", None, "The provided key does not have the required permissions."),
    404: ("invalid_request_error", "resource_missing", "No such object (injected by the fake Stripe)."),
    409: ("invalid_request_error", "lock_timeout", "This object cannot be accessed right now because another API "
          "request or Stripe process is currently accessing it."),
    429: ("invalid_request_error", "rate_limit", "Request rate limit exceeded. Learn more about rate limits here "
          "https://stripe.com/docs/rate-limits."),
}  # fmt: skip
_SERVER_ERROR = ("api_error", None, "An unknown error occurred (injected by the fake Stripe).")


class RecordedRequest(NamedTuple):
    method: str
    path: str
    params: dict  # validated and typed when the request was valid, else as parsed
    headers: dict  # the RECORDED_HEADERS that were sent


class HeldAnswer:
    """A request the fake carried out on arrival and whose answer it holds back until ``release()``.

    The answer is what Stripe read when the request arrived; sent late, it is older than whatever
    happened in Stripe meanwhile (a re-fetch answered late while the customer changes plan).
    """

    def __init__(self):
        self._arrived = threading.Event()
        self._released = threading.Event()

    def wait_until_arrived(self, timeout: float = 10.0) -> bool:
        return self._arrived.wait(timeout)

    @property
    def arrived(self) -> bool:
        return self._arrived.is_set()

    def release(self) -> None:
        self._released.set()


@dataclass
class _Fault:
    kind: str  # "error" | "timeout" | "hold"
    times: int
    path_prefix: str | None
    method: str | None
    status: int = 500
    error_type: str | None = None
    code: str | None = None
    message: str | None = None
    decline_code: str | None = None
    seconds: float | None = None
    process: bool = False
    held: HeldAnswer | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass
class _Reply:
    status: int
    body: dict | None  # None: close the connection without answering
    headers: dict
    delay: float = 0.0
    held: HeldAnswer | None = None


class FakeStripe(FakeStripeState):
    """Start with ``start()`` (or ``with FakeStripe() as fake``); point the SDK at ``api_base``."""

    def __init__(self, *, api_version: str | None = None, client_timeout: float = 2.0):
        super().__init__(api_version=api_version)
        self.client_timeout = client_timeout  # what the SDK's HTTP client waits; timeout_next sleeps longer
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._reset_http()

    def _reset_http(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[str] = []  # tracebacks of bugs in the fake itself (answered with 500)
        self._faults: list[_Fault] = []
        self._idempotent: dict[str, tuple] = {}
        self._down: tuple[bool, int] | None = None
        self._held: list[HeldAnswer] = []

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            self._server.daemon_threads = True
            self._server.fake = self
            self._wake.clear()
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-stripe", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._wake.set()  # let requests sleeping in timeout_next() go
            self._release_held()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeStripe is not started")
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget every object, event, logged request, idempotency key and injected failure."""
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()
            self._release_held()
            self._reset_state()
            self._reset_http()
            self.time_offset = 0

    # --- failure injection --------------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        path_prefix: str | None = None,
        method: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
        message: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with an error (nothing is executed or stored).

        Defaults follow Stripe: 402 is a ``card_error``/``card_declined`` (SDK: ``CardError``), 429 a
        rate limit (``RateLimitError``), 5xx an ``api_error`` (``APIError``), 400/404 an
        ``invalid_request_error`` (``InvalidRequestError``), 401 ``AuthenticationError``.
        """
        default_type, default_code, default_message = _DEFAULT_FAILURES.get(status, _SERVER_ERROR)
        if status == 402 and decline_code is None and (code or default_code) == "card_declined":
            decline_code = "generic_decline"
        fault = _Fault(
            "error",
            times,
            path_prefix,
            method,
            status=status,
            error_type=error_type or default_type,
            code=code or default_code,
            message=message or default_message,
            decline_code=decline_code,
        )
        with self._lock:
            self._faults.append(fault)

    def timeout_next(
        self,
        *,
        times: int = 1,
        seconds: float | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
        process: bool = False,
    ) -> None:
        """Hold the next ``times`` matching requests longer than the client waits (default: its timeout + 1 s).

        The SDK gives up with ``APIConnectionError``. With ``process=True`` the request is still carried
        out (Stripe did it, the answer was lost), which is what an idempotent retry must cope with.
        """
        fault = _Fault("timeout", times, path_prefix, method, seconds=seconds, process=process)
        with self._lock:
            self._faults.append(fault)

    def hold_next(self, *, path_prefix: str | None = None, method: str | None = None) -> HeldAnswer:
        """Carry out the next matching request at once but hold its answer until the test releases it.

        For a test that must run something while an answer is on its way. The SDK's own timeout
        still applies: release before it (``client_timeout``) or the caller sees a timeout.
        """
        held = HeldAnswer()
        with self._lock:
            self._faults.append(_Fault("hold", 1, path_prefix, method, held=held))
            self._held.append(held)
        return held

    def _release_held(self) -> None:
        for held in self._held:
            held.release()

    def down(self, *, status: int = 500, close_connections: bool = False) -> None:
        """An outage: every request fails with ``status`` (an ``api_error``), or its connection is dropped."""
        with self._lock:
            self._down = (close_connections, status)

    def up(self) -> None:
        with self._lock:
            self._down = None

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Logged requests, filtered by method and by path (exact, or a prefix ending in ``*``)."""

        def keep(r: RecordedRequest | None) -> bool:
            if r is None:  # still being answered (another thread's request)
                return False
            if method and r.method != method.upper():
                return False
            if path is None:
                return True
            return r.path.startswith(path[:-1]) if path.endswith("*") else r.path == path

        return [r for r in self.requests if keep(r)]

    # --- one request ---------------------------------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers, body: bytes) -> _Reply:
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        request_id = "req_" + objects.random_token(14)
        reply_headers = {"Request-Id": request_id, "Stripe-Version": headers.get("Stripe-Version") or self.api_version}
        recorded = {h: headers[h] for h in RECORDED_HEADERS if headers.get(h)}
        raw = url.query if method in ("GET", "DELETE") else body.decode("utf-8")
        with self._lock:
            try:
                params, bad_form = parse_form(raw), None
            except StripeFault as fault:
                params, bad_form = {"_unparsed": raw}, fault
            entry = [method, path, params, recorded]
            self.requests.append(None)  # keeps the log in arrival order; filled in below
            slot = len(self.requests) - 1
            try:
                return self._answer(method, path, params, headers, request_id, reply_headers, entry, bad_form)
            except StripeFault as fault:
                return _Reply(fault.status, fault.body(request_id), reply_headers)
            except Exception as exc:  # a bug in the fake: answer like Stripe's 500 and keep the traceback
                self.internal_errors.append(traceback.format_exc())
                crash = StripeFault(500, f"The fake Stripe crashed: {exc!r}", type="api_error")
                return _Reply(500, crash.body(request_id), reply_headers)
            finally:
                self.requests[slot] = RecordedRequest(*entry)

    def _answer(self, method, path, params, headers, request_id, reply_headers, entry, bad_form) -> _Reply:
        if self._down is not None:
            close, status = self._down
            if close:
                return _Reply(0, None, {})
            raise StripeFault(status, "Stripe is down (outage simulated by the fake Stripe).", type="api_error")
        fault = self._take_fault(method, path)
        if fault and fault.kind == "error":
            raise self._injected(fault)
        delay, held = 0.0, None
        if fault and fault.kind == "hold":
            held = fault.held
        elif fault:  # a timeout
            delay = fault.seconds if fault.seconds is not None else self._client_wait() + 1.0
            if not fault.process:
                return _Reply(504, {"error": {"type": "api_error", "message": "Timed out."}}, reply_headers, delay)
        self._check_auth(headers.get("Authorization"))
        version = headers.get("Stripe-Version")
        if version and not _VERSION.match(version):
            raise StripeFault(400, f"Invalid Stripe API version: {version}", param=None)
        route, ids = self._route(method, path)
        if bad_form is not None:
            raise bad_form
        key = headers.get("Idempotency-Key") if method == "POST" else None
        if key and key in self._idempotent:
            return self._replay(key, method, path, params, reply_headers, delay)
        validated = validate(params, schema_for(route.params))
        entry[2] = validated
        self._context = (request_id, key)
        try:
            body = self._dispatch(route, ids, validated)
        finally:
            self._context = (None, None)
        if key:
            self._idempotent[key] = (method, path, params, copy.deepcopy(body))
        return _Reply(200, body, reply_headers, delay, held)

    def _replay(self, key, method, path, params, reply_headers, delay) -> _Reply:
        first_method, first_path, first_params, body = self._idempotent[key]
        if (first_method, first_path) != (method, path):
            raise StripeFault(
                400,
                f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{first_method} {first_path}' vs '{method} {path}'). Try using a key other than '{key}' if you "
                "meant to execute a different request.",
                type="idempotency_error",
            )
        if first_params != params:
            raise StripeFault(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                f"Try using a key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        return _Reply(200, copy.deepcopy(body), {**reply_headers, "Idempotent-Replayed": "true"}, delay)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _injected(fault: _Fault) -> StripeFault:
        extra = {"decline_code": fault.decline_code} if fault.decline_code else {}
        return StripeFault(fault.status, fault.message, type=fault.error_type, code=fault.code, **extra)

    @staticmethod
    def _check_auth(header: str | None) -> None:
        if not header:
            raise StripeFault(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        scheme, _, key = header.partition(" ")
        if scheme != "Bearer" or not re.match(r"^(sk|rk)_test_\w+$", key):
            shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "****"
            raise StripeFault(401, f"Invalid API Key provided: {shown}")

    def _client_wait(self) -> float:
        """How long the caller waits: ``client_timeout``, or the SDK's global client's timeout if longer.

        Code that installs its own ``stripe.default_http_client`` (a gateway with its own timeout)
        is covered too; a ``StripeClient`` with a private HTTP client is not: pass ``seconds``.
        """
        timeout = getattr(stripe.default_http_client, "_timeout", None)
        if isinstance(timeout, tuple):
            timeout = max(timeout)
        sdk_wait = float(timeout) if isinstance(timeout, (int, float)) else 0.0
        return max(self.client_timeout, sdk_wait)

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeStripe/1.0"
    protocol_version = "HTTP/1.0"  # one request per connection: dropping or stalling one stays simple

    def _serve(self) -> None:
        fake: FakeStripe = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = fake._handle(self.command, self.path, self.headers, body)
        if reply.held is not None:
            reply.held._arrived.set()
            reply.held._released.wait(60)  # released by the test, or by reset()/stop()
        if reply.delay:
            fake._sleep(reply.delay)
        if reply.body is None:
            self.close_connection = True
            return
        payload = json.dumps(reply.body, indent=2).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format, *args) -> None:
        pass
