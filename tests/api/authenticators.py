"""Second factors for API tests: allauth.mfa Authenticator rows and what a device would answer.

TOTP codes are computed here from RFC 6238 (not with allauth's helpers, so a test checks allauth's
check against an independent implementation). The security key is a real ES256 key pair: its
public key is registered as allauth stores a WebAuthn credential, and its assertions are signed
as an authenticator signs them (WebAuthn Level 2, section 6.3.3), for the test client's host.
"""

import base64
import hashlib
import hmac
import json
import secrets
import struct
import time

from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.webauthn import Aaguid, AttestationObject, AttestedCredentialData, AuthenticatorData

RP_ID = "testserver"  # Django's test client host, which allauth takes as the relying party id
ORIGIN = f"https://{RP_ID}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def totp_code(secret: str, *, at: float | None = None) -> str:
    counter = int(at if at is not None else time.time()) // 30
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**6:06d}"


def enable_totp(user) -> str:
    """An authenticator app for ``user`` (and allauth's recovery codes beside it), replacing any it has
    (the `staff` fixture enrols one already); returns the secret."""
    Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
    ).delete()
    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def recovery_codes(user) -> list[str]:
    return RecoveryCodes(Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)).generate_codes()


class SecurityKey:
    """A WebAuthn authenticator holding one ES256 credential, registered for ``user``."""

    def __init__(self, user, *, passkey: bool = True, name: str = "Test key"):
        self.user = user
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.user_handle = user_pk_to_url_str(user).encode()
        self.counter = 0
        self.authenticator = Authenticator.objects.create(
            user=user,
            type=Authenticator.Type.WEBAUTHN,
            data={"name": name, "credential": self._registration(passkey=passkey)},
        )

    def _registration(self, *, passkey: bool) -> dict:
        """The credential as navigator.credentials.create() answers (attestation "none") and allauth stores it."""
        public_key = ES256.from_cryptography_key(self.private_key.public_key())
        auth_data = AuthenticatorData.create(
            hashlib.sha256(RP_ID.encode()).digest(),
            AuthenticatorData.FLAG.UP | AuthenticatorData.FLAG.UV | AuthenticatorData.FLAG.AT,
            0,
            AttestedCredentialData.create(Aaguid.NONE, self.credential_id, public_key),
        )
        attestation = AttestationObject.create("none", auth_data, {})
        client_data = {"type": "webauthn.create", "challenge": b64url(secrets.token_bytes(32)), "origin": ORIGIN}
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(json.dumps(client_data).encode()),
                "attestationObject": b64url(bytes(attestation)),
            },
            "clientExtensionResults": {"credProps": {"rk": passkey}},
        }

    def assertion(self, request_options: dict, *, origin: str = ORIGIN, user_verified: bool = True) -> dict:
        """What navigator.credentials.get() answers to ``request_options``: signed over the
        authenticator data and the hash of the client data, with the challenge in it."""
        challenge = request_options["publicKey"]["challenge"]
        client_data = json.dumps({"type": "webauthn.get", "challenge": challenge, "origin": origin}).encode()
        self.counter += 1
        flags = AuthenticatorData.FLAG.UP | (AuthenticatorData.FLAG.UV if user_verified else 0)
        auth_data = bytes(AuthenticatorData.create(hashlib.sha256(RP_ID.encode()).digest(), flags, self.counter))
        signature = self.private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            },
            "clientExtensionResults": {},
        }
