"""Offline stand-ins for Google and GitHub, for the portal's and the API's social sign-in tests.

requests' transport (``HTTPAdapter.send``) is replaced by a fake that answers
only the URLs a test registered and fails loudly for any other, and a socket guard refuses every
connection that is not to loopback (PostgreSQL and Redis) or a Unix socket.

Google's ID tokens here are real RS256 JWTs, signed with a key pair made in the test and published
at the certs URL allauth reads, as a self-signed X.509 certificate under the token's ``kid``.
"""

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from requests.structures import CaseInsensitiveDict

# --- The network ------------------------------------------------------------------------------


class UnexpectedRequest(AssertionError):
    """A request to a URL no test answered for. Not a RequestException, so allauth can't swallow it."""


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str


class FakeTransport:
    """Stands in for requests' HTTPAdapter: answers (method, URL) pairs and records every request."""

    def __init__(self):
        self.answers: dict[tuple[str, str], Answer] = {}
        self.requests: list[requests.PreparedRequest] = []

    def answer(self, method, url, *, status=200, json_body=None, form_body=None):
        if json_body is not None:
            answer = Answer(status, json.dumps(json_body).encode(), "application/json; charset=utf-8")
        else:
            answer = Answer(status, urlencode(form_body or {}).encode(), "application/x-www-form-urlencoded")
        self.answers[(method, url)] = answer

    def send(self, adapter, request, **kwargs):
        self.requests.append(request)
        scheme, netloc, path, _query, _fragment = urlsplit(request.url)
        key = (request.method, urlunsplit((scheme, netloc, path, "", "")))
        if key not in self.answers:
            raise UnexpectedRequest(f"No fake answer for {request.method} {request.url}")
        answer = self.answers[key]
        response = requests.Response()
        response.status_code = answer.status
        response.reason = "OK" if answer.status < 400 else "Error"
        response.headers = CaseInsensitiveDict({"Content-Type": answer.content_type})
        response._content = answer.body
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        response.connection = adapter
        return response

    def requests_to(self, method, url):
        return [r for r in self.requests if r.method == method and r.url.split("?")[0] == url]


def install(monkeypatch) -> FakeTransport:
    """Put a FakeTransport under requests and the socket guard under everything; return the fake."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse_the_outside(sock, address):
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name other than localhost would need DNS, which is the network too
            loopback = False
        if not loopback:
            raise ConnectionRefusedError(f"Tests must not reach the network (tried {address!r}).")

    def connect(sock, address):
        refuse_the_outside(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        refuse_the_outside(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    fake = FakeTransport()
    # A plain function, so the patched method still receives the adapter it was called on.
    monkeypatch.setattr(
        requests.adapters.HTTPAdapter, "send", lambda adapter, request, **kwargs: fake.send(adapter, request, **kwargs)
    )
    return fake


# --- Keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    certificate_pem: str


@cache
def signing_key(name: str) -> SigningKey:
    """An RSA key pair and a self-signed certificate for it, made once per name per test run."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )
    return SigningKey(private_key, certificate.public_bytes(serialization.Encoding.PEM).decode())


# --- The providers ----------------------------------------------------------------------------


@dataclass
class Person:
    """Someone as a provider knows them."""

    uid: str
    email: str | None
    first_name: str = "Grace"
    last_name: str = "Hopper"
    email_verified: bool = True
    avatar_url: str = "https://avatars.example.com/grace.png"


GRACE = Person(uid="1024", email="grace@example.org")


class FakeGoogle:
    id = "google"
    authorize_url = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url = "https://oauth2.googleapis.com/token"
    certs_url = "https://www.googleapis.com/oauth2/v1/certs"
    issuer = "https://accounts.google.com"
    client_id = "test-google-id"
    kid = "gatehouse-test-kid-1"

    def __init__(self, transport):
        self.transport = transport
        self.key = signing_key("google")
        self.publish_certs()

    def publish_certs(self, certs=None):
        """Serve Google's certs endpoint: {kid: PEM certificate}. By default our key under self.kid."""
        self.transport.answer("GET", self.certs_url, json_body=certs or {self.kid: self.key.certificate_pem})

    def claims(self, person, **overrides):
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": person.uid,
            "email": person.email,
            "email_verified": person.email_verified,
            "name": f"{person.first_name} {person.last_name}",
            "given_name": person.first_name,
            "family_name": person.last_name,
            "picture": person.avatar_url,
            "iat": now,
            "exp": now + 3600,
            **overrides,
        }
        return {name: value for name, value in claims.items() if value is not None}

    def id_token(self, person, *, key=None, kid=None, **overrides):
        """An ID token as the Google SDK hands it to the app: RS256, signed, with the key's kid."""
        key = key or self.key
        return jwt.encode(
            self.claims(person, **overrides),
            key.private_key,
            algorithm="RS256",
            headers={"kid": kid or self.kid},
        )

    def answer_token_exchange_as(self, person, **overrides):
        """The web flow's code exchange; the ID token arrives over TLS from Google itself."""
        self.transport.answer(
            "POST",
            self.token_url,
            json_body={
                "access_token": "google-access-token",
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "openid https://www.googleapis.com/auth/userinfo.email",
                "id_token": self.id_token(person, **overrides),
            },
        )


class FakeGitHub:
    id = "github"
    authorize_url = "https://github.com/login/oauth/authorize"
    token_url = "https://github.com/login/oauth/access_token"
    user_url = "https://api.github.com/user"
    emails_url = "https://api.github.com/user/emails"
    client_id = "test-github-id"

    def __init__(self, transport):
        self.transport = transport

    def answer_as(self, person):
        # Without an Accept header GitHub answers the token exchange form-encoded.
        self.transport.answer(
            "POST", self.token_url, form_body={"access_token": "github-access-token", "token_type": "bearer"}
        )
        self.transport.answer(
            "GET",
            self.user_url,
            json_body={
                "id": int(person.uid),
                "login": f"{person.first_name.lower()}-codes",
                "name": f"{person.first_name} {person.last_name}",
                "email": person.email,
                "avatar_url": person.avatar_url,
                "html_url": f"https://github.com/{person.first_name.lower()}-codes",
            },
        )
        self.transport.answer(
            "GET",
            self.emails_url,
            json_body=[{"email": person.email, "primary": True, "verified": person.email_verified, "visibility": None}],
        )

    def answer_token_exchange_as(self, person):
        self.answer_as(person)
