"""The image's run-time contract without Docker: gunicorn with the production settings, as an
arbitrary uid, from a read-only copy of the code (as `docker run --read-only --user 12345`)."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
UID = 12345
SETPRIV = shutil.which("setpriv")
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "logs", "staticfiles", "tests", ".dev-secret-key", "db*.sqlite3*", "artifacts"
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to switch uid"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the other uid needs a server database"),
]


def all_files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def read_only_app():
    """The code copied as the image holds it: static files collected, then every write bit removed."""
    # Not under pytest's tmp_path: its parents are private to root, and the other uid must read this.
    app = Path(tempfile.mkdtemp(prefix="gatehouse-ro-"))
    app.chmod(0o755)
    shutil.copytree(ROOT, app / "app", ignore=NOT_SHIPPED)
    environ = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("DJANGO", "LOG_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "localhost",
        "DATABASE_URL": database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/10",
        "CELERY_BROKER_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/10",
        "EMAIL_URL": "smtp://127.0.0.1:1",
        "SECURE_SSL_REDIRECT": "False",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(app / "home"),
    }
    subprocess.run(  # the Dockerfile's build step, as root
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=app / "app", env=environ, check=True
    )
    (app / "home").mkdir()
    subprocess.run(["chmod", "-R", "a-w", str(app)], check=True)
    yield app / "app", environ
    subprocess.run(["chmod", "-R", "u+w", str(app)], check=True)
    shutil.rmtree(app)


def get(port: int, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback server
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def open_files(pid: int) -> list[str]:
    fds = Path(f"/proc/{pid}/fd")
    return [os.readlink(fds / fd) for fd in os.listdir(fds)]


@pytest.mark.django_db(transaction=True)
def test_it_serves_as_any_uid_from_a_read_only_copy_and_writes_nothing(read_only_app, tmp_path):
    app, environ = read_only_app
    before = all_files(app.parent)
    port = free_port()
    output = tmp_path / "gunicorn.out"
    # CAP_DAC_READ_SEARCH (reads only) because this machine's interpreter lives under /root, which
    # no other uid may read; writes stay denied to the uid, which is what this test is about.
    command = [SETPRIV, f"--reuid={UID}", f"--regid={UID}", "--clear-groups"]
    command += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", sys.executable, "-m", "gunicorn"]
    command += ["-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket"]
    command += ["config.wsgi:application"]
    with output.open("wb") as out:
        server = subprocess.Popen(command, cwd=app, env=environ, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, output.read_text()[-3000:]
            try:
                status, body = get(port, "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, output.read_text()[-3000:]
                time.sleep(0.2)

        assert status == 200, output.read_text()[-3000:]
        assert json.loads(body)["status"] == "ok"
        status, page = get(port, "/accounts/login/")
        assert status == 200
        stylesheet = next(part.split('"')[0] for part in page.decode().split('href="') if part.startswith("/static/"))
        assert stylesheet.count(".") >= 2  # the hashed name from the manifest, e.g. app.3f2a1b.css
        assert get(port, stylesheet)[0] == 200
        # Gunicorn's heartbeat files: open and unlinked in RAM, not on the (read-only) disk.
        (worker,) = worker_pids(server.pid)
        heartbeat = [name for name in open_files(worker) if "wgunicorn" in name]
        assert heartbeat
        assert all(name.startswith("/dev/shm/") for name in heartbeat)  # noqa: S108
        status_lines = Path(f"/proc/{worker}/status").read_text().splitlines()
        uid_line = next(line for line in status_lines if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(UID)] * 4
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)
    log = output.read_text()
    assert server.returncode == 0, log[-3000:]
    assert "Traceback" not in log
    assert all_files(app.parent) == before  # no log file, no .pyc, no .dev-secret-key
