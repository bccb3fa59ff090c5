"""The deployment files read as text: what the image ships, what it pins, and how it stops."""

import fnmatch
import re
import runpy
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def is_ignored(path: str) -> bool:
    """Docker's rule, enough for these paths: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_it_keeps_tests_ci_bench_and_test_settings_out_of_the_image():
    for path in (
        "tests/conftest.py",
        "tests/e2e/test_portal.py",
        ".ci/run",
        "bench/run.py",
        "config/test_settings.py",
        "README.md",
        "BENCHMARKS.md",
        "requirements-dev.lock",
        ".env",
        ".git/HEAD",
    ):
        assert is_ignored(path), path


def test_it_ships_what_runs():
    for path in (
        "manage.py",
        "gunicorn.conf.py",
        "config/settings.py",
        "config/wsgi.py",
        "accounts/models.py",
        "templates/base.html",
        "static/css",
        "requirements.lock",
    ):
        assert not is_ignored(path), path


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (a lock's hash lines and -r includes skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {line} is not pinned"
        found[re.sub(r"[-_.]+", "-", requirement.name).lower()] = specifier.version
    return found


def test_every_lock_pins_each_top_level_requirement_at_the_same_version():
    for name in REQUIREMENTS:
        lock = pins(ROOT / name.replace(".txt", ".lock"))
        top_level = {}
        for included in ("requirements.txt", "requirements-compat.txt", name):
            top_level.update(pins(ROOT / included))
        drifted = {package: (version, lock.get(package)) for package, version in top_level.items()}
        assert {package: pair for package, pair in drifted.items() if pair[0] != pair[1]} == {}, name


def test_every_locked_package_carries_a_hash():
    for name in REQUIREMENTS:
        text = (ROOT / name.replace(".txt", ".lock")).read_text()
        entries = re.findall(r"^(\S+==\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", text, flags=re.MULTILINE)
        assert entries, name
        assert [entry for entry, hashes in entries if "--hash=sha256:" not in hashes] == []


def test_the_image_installs_from_the_hashed_lock_on_a_base_pinned_by_digest():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11[\w.-]*@sha256:[0-9a-f]{64}$", dockerfile, flags=re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile, flags=re.MULTILINE)
    install = r"^RUN .*pip install --require-hashes .*-r /tmp/requirements\.lock"
    assert re.search(install, dockerfile, flags=re.MULTILINE)
    instructions = re.findall(r"^(?:COPY|RUN) .*$", dockerfile, flags=re.MULTILINE)
    assert [line for line in instructions if "requirements.txt" in line] == []


def test_the_image_builds_without_buildkit():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", dockerfile, flags=re.MULTILINE | re.IGNORECASE)
    instructions = "\n".join(line for line in dockerfile.splitlines() if not line.lstrip().startswith("#"))
    assert "--mount" not in instructions
    assert "<<" not in instructions  # heredocs need BuildKit too


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    assert "".join(number + unit for number, unit in parts) == duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_compose_waits_longer_than_gunicorn_and_celery_finish_in_flight_work(settings):
    gunicorn = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    margin = 5
    assert gunicorn["graceful_timeout"] >= 30
    assert seconds(services["web"]["stop_grace_period"]) >= gunicorn["graceful_timeout"] + margin
    assert seconds(services["beat"]["stop_grace_period"]) >= gunicorn["graceful_timeout"] + margin
    # Warm shutdown waits for running tasks, which the hard time limit caps.
    assert seconds(services["worker"]["stop_grace_period"]) >= settings.CELERY_TASK_TIME_LIMIT + margin


def test_gunicorn_keeps_its_heartbeat_files_off_the_root_filesystem():
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["worker_tmp_dir"] == "/dev/shm"  # noqa: S108


def test_compose_names_docs_that_exist():
    compose = (ROOT / "docker-compose.yml").read_text()
    for reference in re.findall(r"\b[\w./-]+\.md\b", compose):
        assert (ROOT / reference).exists(), reference
    assert "Deploying" in compose
