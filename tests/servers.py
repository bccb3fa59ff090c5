"""Real servers as subprocesses, for tests of outages: gunicorn as the Dockerfile runs it, and a
throwaway redis-server that a test can make hang (SIGSTOP: it keeps its socket but answers nothing).

Ports come from GATEHOUSE_TEST_PORTS (default 18300-18399), so parallel test runs on one machine
can be given ranges that do not collide.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.celery_worker import ROOT, skip_or_fail

STARTUP_SECONDS = 60


_handed_out: set[int] = set()


def free_port() -> int:
    """A port of the range that nothing listens on and that this process has not handed out before."""
    low, high = (int(bound) for bound in os.environ.get("GATEHOUSE_TEST_PORTS", "18300-18399").split("-"))
    for port in range(low, high + 1):
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    pytest.fail(f"no free port in {low}-{high} (GATEHOUSE_TEST_PORTS)")


def closed_port() -> int:
    """A port nothing listens on, and no server of these tests will (a database that is down)."""
    return free_port()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(process: subprocess.Popen, ready, output: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            log = output.read_text(errors="replace")[-3000:] if output.exists() else ""
            pytest.fail(f"{what} did not start:\n{log}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """`redis-server` on a port of its own, without persistence; ``hang()`` stops it in place."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.output = tmp / f"redis-{self.port}.out"
        self.process = None

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed: the hung-Redis tests start one of their own")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=self.output.parent, stdout=out, stderr=subprocess.STDOUT)
        _wait(self.process, self._answers, self.output, "redis-server")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def hang(self):
        """Stopped, not gone: connections are accepted by the kernel and never answered."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.resume()
        _stop(self.process)


class Gunicorn:
    """`gunicorn config.wsgi:application` with the production settings module and the given environment."""

    def __init__(self, tmp: Path, env: dict[str, str], workers: int = 1):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.output = tmp / f"gunicorn-{self.port}.out"
        self.workers = workers
        self.process = None
        self.env = {
            **{name: value for name, value in os.environ.items() if name not in {"REDIS_URL", "CELERY_BROKER_URL"}},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "development",
            "DEBUG": "False",
            "LOG_FILE": str(tmp / f"gunicorn-{self.port}.log"),
            **env,
        }

    def start(self):
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        # No control socket: its default path is shared by every gunicorn of this user on the machine.
        command += ["--workers", str(self.workers), "--timeout", "60", "--no-control-socket"]
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        _wait(self.process, self._listening, self.output, "gunicorn")

    def _listening(self) -> bool:
        return listening(self.port)

    def stop(self):
        _stop(self.process)

    def log_lines(self) -> list[dict]:
        """The structured (JSON) lines the app wrote to stdout."""
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None, timeout=30):
        """(status, headers, body text, seconds taken): an HTTP error status is an answer, not an exception."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our loopback server
                status, response_headers, text = response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            status, response_headers, text = error.code, error.headers, error.read().decode()
        return status, response_headers, text, time.monotonic() - started


class ConfiguredGunicorn(Gunicorn):
    """Gunicorn as the image starts it, with the repository's gunicorn.conf.py named explicitly
    (FORWARDED_ALLOW_IPS, the proxy-header filter); bind and worker count from the test."""

    def start(self):
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "config.wsgi:application"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--no-control-socket"]
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        _wait(self.process, self._listening, self.output, "gunicorn")


def nginx_binary() -> str:
    """Debian's nginx, installed with apt when missing and the tests run as root (as .ci/run does for chromium)."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None and os.geteuid() == 0 and shutil.which("apt-get"):
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
        environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*apt, "update", "-q"], env=environ, check=False, capture_output=True)
        subprocess.run([*apt, "install", "-y", "-q", "nginx-light"], env=environ, check=False, capture_output=True)
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        skip_or_fail("nginx is not installed (apt-get install nginx-light): the many-instances tests run one")
    return binary


class Nginx:
    """nginx in the foreground with a site file rendered into ``tmp`` (a minimal main config around it)."""

    def __init__(self, tmp: Path, site: str):
        self.port = free_port()
        self.dir = tmp / f"nginx-{self.port}"
        self.dir.mkdir()
        # World-readable: when started as root, nginx's workers run as nobody and open nothing
        # here but the temp paths, which must be theirs to write.
        self.dir.chmod(0o777)
        self.site = site.replace("@LISTEN@", f"127.0.0.1:{self.port}")
        self.output = self.dir / "nginx.out"
        self.process = None

    def start(self):
        binary = nginx_binary()
        (self.dir / "site.conf").write_text(self.site)
        temp_paths = "".join(
            f"    {kind}_temp_path {self.dir / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # Request bodies (a picture upload) stay in memory: pytest's base temp folder is private
        # to its owner, so workers running as nobody cannot reach the client_body temp path.
        temp_paths += "    client_body_buffer_size 8m;\n"
        main = (
            "daemon off;\nworker_processes 1;\n"
            f"pid {self.dir / 'nginx.pid'};\nerror_log {self.dir / 'error.log'} warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n    access_log off;\n" + temp_paths + f"    include {self.dir / 'site.conf'};\n}}\n"
        )
        (self.dir / "nginx.conf").write_text(main)
        command = [binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            pytest.fail(f"nginx refused the rendered config:\n{checked.stderr}\n{main}\n{self.site}")
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _wait(self.process, self._listening, self.output, "nginx")

    def _listening(self) -> bool:
        return listening(self.port)

    def stop(self):
        # SIGTERM is nginx's fast shutdown; its workers go with the master.
        _stop(self.process)
