"""Test settings: only what must be fixed at import time differs from config.settings."""

from config.settings import *  # noqa: F403
from config.settings import PASSWORD_HASHERS

# A fast hasher keeps the suite quick; tests/accounts/test_passwords.py pins that the real
# settings put Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_FILE = None
LOGGING["handlers"].pop("file")  # noqa: F405
LOGGING["root"]["handlers"] = ["stdout"]  # noqa: F405
