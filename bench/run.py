"""`make bench`: a production-like stack on loopback, driven by wrk, compared with baselines of the same run.

Steps: recreate the bench database, migrate, collect static files, load realistic data
(bench/load.py), time the configured password hasher in-process, start gunicorn with
bench.settings, run every row with wrk (the baselines first and again last), read each
worker's peak RSS, and write BENCHMARKS.md. Rows whose feature is not on this branch yet are
listed as not measured. Run with the project's venv from the repository root.
"""

import dataclasses
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "wrk" / "request.lua"
NOTES = ROOT / "bench" / "notes.md"
OUTPUT = ROOT / os.environ.get("BENCH_OUTPUT", "BENCHMARKS.md")

DURATION = int(os.environ.get("BENCH_DURATION", "10"))  # seconds per measured row
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))  # seconds per row before measuring, not counted
# Seconds of the row's baseline measured right before each row: the ratio compares neighbours in time.
PAIRED = int(os.environ.get("BENCH_PAIRED_BASELINE", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
THREADS = 2
CORES = os.cpu_count() or 1
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * CORES + 1)))
PORT = int(os.environ.get("BENCH_PORT", "8765"))
DB_NAME = os.environ.get("BENCH_DB_NAME", "gatehouse_bench")
DB_SERVER = os.environ.get("BENCH_DB_SERVER", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
HASH_SAMPLES = int(os.environ.get("BENCH_HASH_SAMPLES", "15"))
WEBHOOK_CUSTOMERS = 12  # customers the new-event row spreads over (deliveries per customer are serialised)
BASE = f"http://127.0.0.1:{PORT}"


# --- environment ----------------------------------------------------------------------------------


def bench_env(extra: dict | None = None) -> dict:
    from tests.fake_stripe import FAKE_API_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "STRIPE_"))}
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="bench.settings",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"{DB_SERVER}/{DB_NAME}",
        REDIS_URL=REDIS_URL,
        STRIPE_SECRET_KEY=FAKE_API_KEY,
        STRIPE_TEST_MODE_OK="True",
        # Mail is stored and sent by no worker in the bench; nothing is delivered, by design.
        ALLOW_CONSOLE_EMAIL_IN_PRODUCTION="True",
        LOG_FILE=str(WORKDIR / "gatehouse.log"),
        PYTHONHASHSEED="0",
    )
    env.update(extra or {})
    return env


WORKDIR = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))


def step(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def run(*args, env=None, capture=False) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, check=True, text=True, capture_output=capture)  # noqa: S603
    return result.stdout if capture else ""


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{DB_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# --- in-process measurements ----------------------------------------------------------------------


def time_password_hasher() -> dict:
    from django.conf import settings
    from django.contrib.auth.hashers import get_hasher

    hasher = get_hasher("default")
    hasher.encode("warm-up-password", hasher.salt())
    walls, cpus = [], []
    for n in range(HASH_SAMPLES):
        wall, cpu = time.perf_counter(), time.process_time()
        hasher.encode(f"bench-password-{n}", hasher.salt())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "hasher": settings.PASSWORD_HASHERS[0],
        "params": {k: getattr(hasher, k) for k in ("time_cost", "memory_cost", "parallelism") if hasattr(hasher, k)},
        "samples": HASH_SAMPLES,
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
    }


# --- gunicorn -------------------------------------------------------------------------------------


class Gunicorn:
    def __init__(self, env: dict):
        self.log = open(WORKDIR / "gunicorn.log", "w")  # noqa: SIM115 - closed in stop()
        # The image's command line (Dockerfile), minus --max-requests: a recycled worker would
        # take its peak RSS with it, and the memory target is about the whole run.
        self.process = subprocess.Popen(  # noqa: S603
            [
                str(BIN / "gunicorn"),
                "config.wsgi:application",
                f"--bind=127.0.0.1:{PORT}",
                f"--workers={WORKERS}",
                "--timeout=30",
                "--log-level=warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{BASE}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200 and len(self.workers()) == WORKERS:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"gunicorn did not come up; see {WORKDIR / 'gunicorn.log'}")

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def peak_rss_mb(self) -> dict[int, float]:
        """VmHWM (peak resident set) of each worker, in MB."""
        peaks = {}
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) / 1024
        return peaks

    def cpu_seconds(self) -> float:
        """User + system CPU time the workers have used so far (their own, not other processes')."""
        total = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


# --- wrk ------------------------------------------------------------------------------------------


@dataclass
class Load:
    path: str
    method: str = "GET"
    body: str | None = None
    headers: dict = field(default_factory=dict)
    lines_file: Path | None = None  # one request per line: "<header value>\t<body>"
    line_header: str = ""


ERROR_KINDS = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")


def wrk(load: Load, seconds: int) -> dict:
    env = dict(os.environ)
    env.update(
        BENCH_METHOD=load.method,
        BENCH_BODY=load.body or "",
        BENCH_HEADERS="\n".join(f"{k}: {v}" for k, v in load.headers.items()),
        BENCH_LINES_FILE=str(load.lines_file or ""),
        BENCH_LINE_HEADER=load.line_header,
        BENCH_THREADS=str(THREADS),
    )
    output = subprocess.run(  # noqa: S603
        [
            wrk_binary(),
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout=5s",
            "-s",
            str(LUA),
            BASE + load.path,
        ],
        env=env,
        check=True,
        text=True,
        capture_output=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(data[k] for k in ERROR_KINDS)
    return data


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: `make bench` installs it with apt-get (Debian package wrk).")
    return found


def http(method: str, path: str, body: dict | str | None = None, headers: dict | None = None) -> tuple[int, dict]:
    if isinstance(body, dict):
        body = json.dumps(body)
    request = urllib.request.Request(  # noqa: S310 - loopback only
        BASE + path,
        method=method,
        data=body.encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            is_json = response.headers.get_content_type() == "application/json"
            return response.status, json.loads(raw) if is_json else {"html": len(raw)}
    except urllib.error.HTTPError as error:
        return error.code, {"body": error.read().decode(errors="replace")[:500]}


def check_ok(load: Load) -> None:
    """One request before measuring: a row that answers 4xx/5xx would measure the error page."""
    status, body = http(load.method, load.path, load.body, dict(load.headers))
    if status != 200:
        raise SystemExit(f"{load.method} {load.path} answered {status}, not 200: {body}")


# --- rows -----------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    group: str  # baseline, page, api, login, refresh, webhook-duplicate, webhook-new, sweep
    load: Load | None = None
    result: dict | None = None
    peak_rss_mb: float | None = None
    not_measured: str | None = None
    note: str = ""
    baseline: str | None = None  # "template" or "json": measured again right before this row
    prepare: object = None  # builds the Load right before the row (signed webhook deliveries)
    baseline_rps: float | None = None


def http_rows(ctx) -> list[Row]:
    session = {"Cookie": f"sessionid={ctx['session_cookie']}"}
    bearer = {"Authorization": f"Bearer {ctx['access_token']}"}
    as_json = {"Content-Type": "application/json"}
    login_body = json.dumps({"email": ctx["email"], "password": ctx["password"]})
    tokens = ctx["tokens_file"]
    return [
        Row("baseline: template (1 indexed query)", "baseline-template", BASELINES["template"]),
        Row("baseline: JSON (1 indexed query)", "baseline-json", BASELINES["json"]),
        Row("portal: pricing (signed in)", "page", Load("/billing/pricing/", headers=session), baseline="template"),
        Row(
            "portal: subscription (signed in)",
            "page",
            Load("/billing/subscription/", headers=session),
            baseline="template",
        ),
        Row(
            "portal: billing history, 20 invoices (signed in)",
            "page",
            Load("/billing/history/", headers=session),
            baseline="template",
        ),
        Row("API: GET /api/billing/plans", "api", Load("/api/billing/plans"), baseline="json"),
        Row("API: GET /api/me", "api", Load("/api/me", headers=bearer), baseline="json"),
        Row(
            "API: GET /api/billing/subscriptions/me",
            "api",
            Load("/api/billing/subscriptions/me", headers=bearer),
            baseline="json",
        ),
        Row(
            "API: GET /api/billing/payments/me (20 invoices)",
            "api",
            Load("/api/billing/payments/me", headers=bearer),
            baseline="json",
        ),
        Row("API: POST /api/login", "login", Load("/api/login", "POST", login_body, as_json)),
        Row(
            "API: POST /api/refresh-token (rotation + blacklist)",
            "refresh",
            Load("/api/refresh-token", "POST", None, as_json, lines_file=tokens),
            baseline="json",
        ),
    ]


BASELINES = {"template": Load("/bench/baseline/template"), "json": Load("/bench/baseline/json")}


def webhook_rows(ctx) -> list[Row]:
    """The Stripe webhook (issue 6), fed by bench/webhooks.py; each row's deliveries are signed just before it."""
    reason = feature_missing("billing.webhooks")
    if reason or "webhooks" not in ctx:
        return [
            Row("webhook: duplicate delivery", "webhook-duplicate", not_measured=reason or "not measured: no setup"),
            Row("webhook: new event, dj-stripe re-fetch from the fake Stripe", "webhook-new", not_measured=reason),
        ]
    from bench import webhooks

    bench = ctx["webhooks"]

    def duplicate() -> Load:
        body, signature = webhooks.duplicate_delivery(bench)
        return Load(bench.url, "POST", body, {"Content-Type": "application/json", "Stripe-Signature": signature})

    def new() -> Load:
        path = WORKDIR / "new-events.txt"
        events = webhooks.new_events(bench, NEW_EVENTS_PER_SECOND * DURATION)
        path.write_text("".join(f"{signature}\t{body}\n" for signature, body in events))
        return Load(bench.url, "POST", None, {"Content-Type": "application/json"}, path, "Stripe-Signature")

    return [
        Row("webhook: duplicate delivery", "webhook-duplicate", prepare=duplicate),
        Row("webhook: new event, dj-stripe re-fetch from the fake Stripe", "webhook-new", prepare=new),
    ]


NEW_EVENTS_PER_SECOND = 300  # the pool of fresh events: more than the app can take in the row's seconds


def sweep_row() -> Row:
    """The expiry sweep (issue 7), run in-process after gunicorn stopped (bench/sweep.py)."""
    row = Row(f"expiry sweep: {SWEEP_RECORDS:,} due subscriptions", "sweep")
    row.not_measured = feature_missing("billing.sweeps")
    if row.not_measured:
        return row
    from bench import sweep

    step(f"expiry sweep: creating {SWEEP_RECORDS:,} due records")
    started = time.monotonic()
    sweep.make_due_subscriptions(SWEEP_RECORDS)
    step(f"  created in {time.monotonic() - started:.1f} s; sweeping")
    row.result = sweep.sweep(SWEEP_RECORDS)
    r = row.result
    step(
        f"  ended {r['ended']:,} in {r['elapsed_s']:.1f} s ({r['rps']:.0f}/s), {r['batches']} batches, "
        f"queries per batch {r['queries_per_batch']}, still with access {r['left_with_access']}"
    )
    return row


def sweep_floor_row() -> Row | None:
    """The same sweep with its per-record mail stubbed out, on fewer records: the database's share."""
    if feature_missing("billing.sweeps"):
        return None
    from bench import sweep

    row = Row(f"diagnosis: the same sweep without its mail, {SWEEP_FLOOR_RECORDS:,} records", "sweep-floor")
    sweep.make_due_subscriptions(SWEEP_FLOOR_RECORDS, prefix="floor")
    row.result = sweep.sweep(SWEEP_FLOOR_RECORDS, prefix="floor", without_mail=True)
    r = row.result
    row.note = (
        f"{r['ended']:,} ended in {r['elapsed_s']:.1f} s, {r['batches']} batches, queries per batch "
        f"{'/'.join(map(str, r['queries_per_batch']))} (not a target: what the mail costs is the difference)"
    )
    step(f"  {row.note}")
    return row


SWEEP_RECORDS = int(os.environ.get("BENCH_SWEEP_RECORDS", "100000"))
SWEEP_FLOOR_RECORDS = int(os.environ.get("BENCH_SWEEP_FLOOR_RECORDS", "20000"))


def feature_missing(module: str) -> str | None:
    import importlib.util

    return None if importlib.util.find_spec(module) else "not measured: feature not merged yet"


# --- targets --------------------------------------------------------------------------------------


def verdicts(row: Row, ctx) -> list[tuple[str, bool]]:
    """Each target as (measured / target, met?)."""
    r = row.result
    if r is None:
        return []
    if row.group == "sweep-floor":
        return []
    if row.group == "sweep":
        return [
            (f"{r['elapsed_s']:.1f} / ≤ 10 s for {r['expected']:,}", r["elapsed_s"] <= 10),
            (f"ended {r['ended']:,} / {r['expected']:,}", r["ended"] == r["expected"] and not r["left_with_access"]),
            (
                f"{r['batches']} batches, queries per batch {'/'.join(map(str, r['queries_per_batch']))} / constant",
                r["constant"],
            ),
        ]
    rps, p99 = r["rps"], r["p99_us"] / 1000
    out = []

    def ratio(factor: float):
        base = row.baseline_rps
        text = f"{rps / base:.2f} / ≥ {factor} × {row.baseline} baseline ({rps:.0f} / ≥ {factor * base:.0f} req/s)"
        out.append((text, rps >= factor * base))

    def p99_at_most(ms: float):
        out.append((f"p99 {p99:.1f} / ≤ {ms:g} ms", p99 <= ms))

    if row.group == "page":
        ratio(0.6)
        p99_at_most(25)
    elif row.group == "api":
        ratio(0.7)
        p99_at_most(20)
    elif row.group == "login":
        hash_ms = ctx["hash"]["wall_s"] * 1000
        limit = CORES / ctx["hash"]["wall_s"]
        text = f"{rps:.1f} / ≥ {0.8 * limit:.1f} req/s (0.8 × {CORES} cores ÷ {hash_ms:.1f} ms)"
        out.append((text, rps >= 0.8 * limit))
    elif row.group == "refresh":
        ratio(0.5)
    elif row.group == "webhook-duplicate":
        out.append((f"{rps:.0f} / ≥ 300 events/s", rps >= 300))
        p99_at_most(50)
    elif row.group == "webhook-new":
        out.append((f"{rps:.0f} / ≥ 50 events/s", rps >= 50))
        p99_at_most(200)
    if r.get("errors"):
        out.append((f"{r['errors']} failed requests / 0", False))
    return out


# --- report ---------------------------------------------------------------------------------------


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {"cores": CORES, "cpu": model, "ram_gb": mem_kb / 1024 / 1024, "kernel": platform.release()}


def versions() -> dict:
    import django
    import djstripe
    import gunicorn
    import psycopg
    import redis
    import rest_framework
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_server = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    wrk_version = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True).stdout.split("\n")[0]  # noqa: S603
    from importlib.metadata import version

    return {
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "DRF": rest_framework.VERSION,
        "simplejwt": version("djangorestframework-simplejwt"),
        "dj-stripe": getattr(djstripe, "__version__", version("dj-stripe")),
        "argon2-cffi": version("argon2-cffi"),
        "psycopg": psycopg.__version__,
        "PostgreSQL": postgres,
        "Redis": redis_server,
        "wrk": wrk_version.strip() or "wrk",
    }


def load_average() -> str:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return f"{one} / {five} / {fifteen} (1 / 5 / 15 min)"


def write_report(rows: list[Row], ctx: dict, started: float) -> bool:
    m, v = ctx["machine"], ctx["versions"]
    all_met = True
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (bench/run.py) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
        f"{time.monotonic() - started:.0f} s. Every figure below comes from this one run; the targets are "
        "ratios to baselines measured in the same run, because absolute figures on a shared machine drift.",
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores, {m['cpu']}, {m['ram_gb']:.1f} GB RAM, Linux {m['kernel']}",
        f"- load average before the run: {ctx['load_before']}; after: {ctx['load_after']}",
        "  (the machine is shared: other processes compete for the same cores, so figures are noisy)",
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {val}" for k, val in v.items() if not k.startswith("_")),
        "",
        "## Method",
        "",
        f"- gunicorn, {WORKERS} sync workers (2 × cores + 1), the image's flags without `--max-requests`; "
        "`DJANGO_ENV=production`, `DEBUG=False`, `bench.settings` (production settings with plain HTTP on "
        "loopback, API rate limits raised but still counted in Redis, the bench-only URLconf with the baselines).",
        f"- PostgreSQL database `{DB_NAME}` (dropped and recreated, migrated), Redis `{REDIS_URL}` (flushed), "
        "all on 127.0.0.1.",
        f"- Data (bulk_create, bench/load.py): {ctx['loaded'].users:,} users with profile and verified address, "
        f"the 3 demo plans, {ctx['loaded'].subscriptions:,} subscriptions (about 10 % canceled) with their dj-stripe "
        f"customers, {ctx['loaded'].invoices:,} dj-stripe invoices of which {ctx['loaded'].measured_user_invoices} "
        "belong to the measured user (Pro subscriber).",
        f"- Load: wrk, {THREADS} threads, {CONNECTIONS} connections, {WARMUP} s warm-up then {DURATION} s per row "
        "(bench/wrk/request.lua). Portal pages with the measured user's session cookie; API rows with the "
        "bearer token of a login made with the app's own `accounts.tokens.start_login` (so that no worker hashes a "
        "password before the login row, which runs last); each refresh request sends a different, unused refresh "
        f"token from a pool of {ctx['pool_size']:,} minted beforehand with `accounts.tokens.start_login`; "
        "rows that need a fresh token or event per request warm up on the first tenth of their pool.",
        "- Baselines: bare Django views (bench/views.py) behind the same middleware, one query through a unique "
        "index, rendering a 6-line template or returning JSON. Each row's ratio is to its own baseline measured "
        f"for {PAIRED} s right before it (column *baseline req/s*), so drift in the machine's load over the run "
        "cancels out as far as possible.",
        f"- Password hash: `{ctx['hash']['hasher']}` {ctx['hash']['params']}, timed in-process, median of "
        f"{ctx['hash']['samples']}: **{ctx['hash']['wall_s'] * 1000:.1f} ms** wall, "
        f"{ctx['hash']['cpu_s'] * 1000:.1f} ms CPU (all threads).",
        "- Worker CPU ms/req: user + system CPU time of all gunicorn workers during the measured seconds "
        "(/proc/<pid>/stat), divided by the requests served: what a request costs the app itself, which other "
        "processes on the machine disturb much less than req/s (PostgreSQL's and Redis's share is not in it).",
        "- Peak RSS: `VmHWM` of every gunicorn worker read from /proc after each row (the column shows the "
        "highest worker so far); the memory row is the highest worker at the end of the run.",
        "",
        "## Results",
        "",
        "| path | req/s | p50 ms | p99 ms | errors | worker CPU ms/req | peak RSS/worker MB | baseline req/s | "
        "ratio | target: measured / target | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if row.not_measured:
            lines.append(f"| {row.name} | – | – | – | – | – | – | – | – | {row.not_measured} | NOT MEASURED |")
            all_met = False
            continue
        r = row.result
        base = f"{row.baseline_rps:.0f} ({row.baseline})" if row.baseline_rps else "–"
        ratio = f"{r['rps'] / row.baseline_rps:.2f}" if row.baseline_rps else "–"
        checks = verdicts(row, ctx)
        met = all(ok for _, ok in checks)
        all_met &= met
        verdict = ("PASS" if met else "MISS") if checks else ("not a target" if row.note else "reference")
        rps = f"{r['rps']:.0f}" if r.get("rps") else "–"
        p50 = f"{r['p50_us'] / 1000:.1f}" if "p50_us" in r else "–"
        p99 = f"{r['p99_us'] / 1000:.1f}" if "p99_us" in r else "–"
        cpu = f"{r['cpu_ms_per_request']:.2f}" if "cpu_ms_per_request" in r else "–"
        texts = [text for text, _ in checks]
        if row.group == "login":
            physical = CORES / ctx["hash"]["cpu_s"]
            texts.append(
                f"(the machine's limit: {CORES} cores ÷ {ctx['hash']['cpu_s'] * 1000:.0f} ms of CPU per hash = "
                f"{physical:.1f} req/s; measured {r['rps'] / physical:.0%} of it)"
            )
        lines.append(
            f"| {row.name} | {rps} | {p50} | {p99} | {r.get('errors', '–')} | {cpu} | {row.peak_rss_mb or '–'} | "
            f"{base} | {ratio} | "
            f"{'<br>'.join(texts) or row.note} | {verdict} |"
        )
    before = ctx.get("rss_before_login") or {}
    if before:
        low = max(before.values())
        lines.append(
            f"| memory: peak RSS per worker before any login (every other row) | – | – | – | – | – | {low:.0f} "
            "| – | – | "
            f"{low:.0f} / ≤ 200 MB (workers: {_mbs(before)}; no password hashed yet) | "
            f"{'PASS' if low <= 200 else 'MISS'} |"
        )
    peak = max(ctx["final_rss"].values())
    mem_ok = peak <= 200
    all_met &= mem_ok
    lines.append(
        f"| memory: peak RSS per gunicorn worker, whole run | – | – | – | – | – | {peak:.0f} | – | – | "
        f"{peak:.0f} / ≤ 200 MB (workers: {_mbs(ctx['final_rss'])}; after the login row) | "
        f"{'PASS' if mem_ok else 'MISS'} |"
    )
    lines.append("")
    if NOTES.exists():
        lines += [NOTES.read_text().rstrip(), ""]
    OUTPUT.write_text("\n".join(lines))
    return all_met


def _mbs(peaks: dict) -> str:
    return ", ".join(f"{mb:.0f}" for mb in sorted(peaks.values()))


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    started = time.monotonic()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    ctx: dict = {"machine": machine(), "load_before": load_average()}
    wrk_binary()
    env = bench_env()
    os.environ.update(env)

    step(f"recreating database {DB_NAME}, flushing {REDIS_URL}")
    recreate_database()
    flush_redis()
    step("migrate, collectstatic")
    run(str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0", env=env)
    run(str(BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0", env=env)

    import django

    django.setup()
    from accounts.models import User
    from bench import load as loader

    fake_stripe = None
    if not feature_missing("billing.webhooks"):
        from bench import webhooks

        step("loopback fake Stripe: plans pushed to it, webhook endpoint registered")
        fake_stripe = webhooks.start_fake_stripe()
        env["BENCH_STRIPE_API_BASE"] = fake_stripe.api_base
        endpoint = webhooks.sync_plans_and_endpoint(fake_stripe, host=f"127.0.0.1:{PORT}")
    pool = max(2_000, DURATION * 600)
    step(f"loading data (and minting {pool:,} refresh tokens)")
    t0 = time.monotonic()
    loaded = loader.load(refresh_tokens=pool)
    step(f"loaded in {time.monotonic() - t0:.1f} s")
    tokens_file = WORKDIR / "refresh-tokens.txt"
    tokens_file.write_text("".join(f'\t{{"refresh_token": "{token}"}}\n' for token in loaded.refresh_tokens))
    step("timing the password hasher")
    ctx.update(loaded=loaded, pool_size=pool, hash=time_password_hasher(), versions=versions())
    if fake_stripe is not None:
        step(f"webhook setup: {WEBHOOK_CUSTOMERS} customers pay through Checkout and renew (events delivered)")
        people = list(User.objects.filter(subscriptions__isnull=True).order_by("pk")[:WEBHOOK_CUSTOMERS])
        ctx["webhooks"] = webhooks.subscribe(fake_stripe, endpoint, people, host=f"127.0.0.1:{PORT}")
    from django.db import connection

    connection.close()

    step(f"starting gunicorn ({WORKERS} workers) on {BASE}")
    server = Gunicorn(env)
    try:
        ctx.update(
            session_cookie=loaded.session_cookie,
            access_token=loaded.access_token,
            email=loader.BENCH_EMAIL,
            password=loader.BENCH_PASSWORD,
            tokens_file=tokens_file,
        )
        # The login row last: until then no worker has hashed a password, so the peak RSS before it
        # is a worker's own, and the one after it adds what Argon2 allocates.
        rows = [row for row in http_rows(ctx) + webhook_rows(ctx) if row.group != "login"]
        rows += [row for row in http_rows(ctx) if row.group == "login"]
        for row in rows:
            if row.prepare is not None:
                row.load = row.prepare()
            if row.group == "login":
                ctx["rss_before_login"] = server.peak_rss_mb()
            if row.load is not None:
                measure(server, row)
        ctx["final_rss"] = server.peak_rss_mb()
    finally:
        server.stop()
        if fake_stripe is not None:
            fake_stripe.stop()
    rows.append(sweep_row())
    floor = sweep_floor_row()
    if floor is not None:
        rows.append(floor)
    ctx["load_after"] = load_average()
    all_met = write_report(rows, ctx, started)
    step(f"wrote {OUTPUT} in {time.monotonic() - started:.0f} s; every target met: {all_met}")
    return 0


def measure(server: Gunicorn, row: Row) -> None:
    step(f"{row.name}")
    if row.load.lines_file is None:
        check_ok(row.load)
        if WARMUP:
            wrk(row.load, WARMUP)
    elif WARMUP:
        # Requests that each need a fresh line (refresh token, new event): the first tenth warms up.
        lines = row.load.lines_file.read_text().splitlines(keepends=True)
        cut = len(lines) // 10
        warm, measured = (row.load.lines_file.with_suffix(suffix) for suffix in (".warm", ".measured"))
        warm.write_text("".join(lines[:cut]))
        measured.write_text("".join(lines[cut:]))
        wrk(dataclasses.replace(row.load, lines_file=warm), WARMUP)
        row.load = dataclasses.replace(row.load, lines_file=measured)
    if row.baseline:
        row.baseline_rps = wrk(BASELINES[row.baseline], PAIRED)["rps"]
    cpu_before = server.cpu_seconds()
    row.result = wrk(row.load, DURATION)
    row.result["cpu_ms_per_request"] = (server.cpu_seconds() - cpu_before) * 1000 / max(1, row.result["requests"])
    peaks = server.peak_rss_mb()
    row.peak_rss_mb = round(max(peaks.values())) if peaks else None
    r = row.result
    paired = f", paired baseline {row.baseline_rps:.0f} req/s" if row.baseline_rps else ""
    step(
        f"  {r['rps']:.0f} req/s, p50 {r['p50_us'] / 1000:.1f} ms, p99 {r['p99_us'] / 1000:.1f} ms, "
        f"errors {r['errors']}, worker CPU {r['cpu_ms_per_request']:.2f} ms/request, "
        f"peak worker RSS {row.peak_rss_mb:.0f} MB{paired}"
    )


if __name__ == "__main__":
    sys.exit(main())
