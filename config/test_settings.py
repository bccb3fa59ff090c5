"""Test settings: only what must be fixed at import time differs from config.settings."""

import tempfile

from config.settings import *  # noqa: F403
from config.settings import LOGGING, PASSWORD_HASHERS, SOCIALACCOUNT_PROVIDERS

# A fast hasher keeps the suite quick; tests/test_settings_module.py pins that the real
# settings put Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_FILE = ""
LOGGING["handlers"].pop("file", None)  # a LOG_FILE in the environment adds one
LOGGING["root"]["handlers"] = ["stdout"]

# Mail tasks run in-process so tests read mail.outbox; the Celery issue's tests start a real worker.
CELERY_TASK_ALWAYS_EAGER = True

# Social providers configured with fake credentials; their HTTP is mocked in the tests.
SOCIALACCOUNT_PROVIDERS = {
    provider: {**config, "APPS": [{"client_id": f"test-{provider}-id", "secret": f"test-{provider}-secret", "key": ""}]}
    for provider, config in SOCIALACCOUNT_PROVIDERS.items()
}

# Uploaded pictures go to a throwaway folder per test process, never the checkout's media/.
MEDIA_ROOT = tempfile.mkdtemp(prefix="gatehouse-test-media-")
