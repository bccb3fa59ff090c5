"""`make screenshots`: every page of the portal, in every state, as full-page PNGs at desktop and phone size.

    .venv/bin/python scripts/screenshots.py [--out DIR] [--only GLOB ...] [--readme [DIR]] [--database-url URL]

Starts the app on the embedded default (`make run`'s configuration: SQLite, console email, tasks
in-process, billing not configured) with a throwaway database in a temporary folder, seeded by
`manage.py seed_demo` (free, Pro, past-due, cancelling and staff users), serves it with runserver on
a free loopback port, and drives Debian's Chromium with Playwright, as the browser tests do. Writes
``desktop-<name>.png`` (1280x900) and ``phone-<name>.png`` (390x844), full page, plus index.html
showing each pair side by side, into artifacts/screenshots/portal/. ``--only pricing-*`` takes
only the shots whose names match; ``--readme`` also rewrites the README's three pictures in
docs/screenshots/ (or the folder given): half size, 256 colours, optimised by Pillow, each well
under 150 KB. ``--database-url`` seeds and serves an already migrated, empty database instead of
migrating a fresh SQLite file (tests/test_screenshots.py passes its own test database: migrating
from nothing is most of a run's time).

Every named URL of the portal is either shot here or listed in NOT_SHOWN with the reason
(tests/test_screenshots.py holds the two lists against the URLconf).
"""

import argparse
import base64
import fnmatch
import html
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

OUT = ROOT / "artifacts" / "screenshots" / "portal"
README_PICTURES = ROOT / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# The README's pictures: (shot, size) -> file in docs/screenshots/, and the scale they are shrunk to.
README_SHOTS = {
    ("pricing-free", "desktop"): "pricing.png",
    ("subscription-pro", "desktop"): "subscription-pro.png",
    ("subscription-past-due", "phone"): "subscription-past-due-phone.png",
}
README_SCALE = 0.5
README_COLOURS = 256
# Every demo user's password, given to seed_demo.
DEMO_PASSWORD = "demo-screenshots-1234"  # noqa: S105 - a throwaway demo database


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    # What to do on the page before the picture (fill a form and send it), if anything.
    then: str = ""
    caption: str = ""
    # The URL name the form leads to (a `then` shot pictures that page, not the form's).
    lands_on: str = ""


@dataclass
class Visitor:
    """Who looks at the pages: anonymous (login empty) or a demo user, signed in once."""

    login: str
    shots: list[Shot] = field(default_factory=list)


VISITORS = [
    Visitor(
        "",
        [
            Shot("home", "/", caption="Home, signed out"),
            Shot("sign-up", "/accounts/signup/"),
            Shot("sign-in", "/accounts/login/"),
            Shot("code-sign-in", "/accounts/login/code/"),
            Shot("password-reset", "/accounts/password/reset/"),
            Shot(
                "check-your-email-password-reset",
                "/accounts/password/reset/",
                then="reset",
                lands_on="account_reset_password_done",
            ),
            Shot("reset-link-invalid", "/accounts/password/reset/key/1-not-a-key/", caption="Reset link, expired"),
            Shot("password-reset-complete", "/accounts/password/reset/key/done/"),
            Shot("confirm-link-invalid", "/accounts/confirm-email/not-a-key/", caption="Confirmation link, expired"),
            Shot("account-inactive", "/accounts/inactive/", caption="Sign-in of a deactivated account"),
            Shot("social-sign-in-cancelled", "/accounts/3rdparty/login/cancelled/"),
            Shot("social-sign-in-error", "/accounts/3rdparty/login/error/"),
            Shot("pricing-anonymous", "/billing/pricing/"),
            Shot("status", "/status/"),
            Shot("not-found", "/no-such-page/", caption="404"),
            # Last: these leave a sign-up and a code sign-in pending in the session.
            Shot(
                "check-your-email-sign-up",
                "/accounts/signup/",
                then="signup",
                lands_on="account_email_verification_sent",
            ),
            Shot(
                "code-sign-in-enter-code", "/accounts/login/code/", then="code", lands_on="account_confirm_login_code"
            ),
        ],
    ),
    Visitor(
        "free",
        [
            Shot("pricing-free", "/billing/pricing/"),
            Shot("pro-only-page-free", "/billing/reports/", caption="A Pro-only page, free plan: pricing, Pro marked"),
            Shot("subscription-free", "/billing/subscription/"),
            Shot("billing-history-empty", "/billing/history/"),
            Shot("profile", "/accounts/profile/"),
            Shot("emails", "/accounts/email/"),
            Shot("password-change", "/accounts/password/change/"),
            Shot("sessions", "/accounts/sessions/"),
            Shot("connected-accounts", "/accounts/3rdparty/"),
            Shot("deactivate-confirm", "/accounts/deactivate/", then="reauthenticate", caption="Deactivate, free plan"),
            Shot("reauthenticate", "/accounts/reauthenticate/"),
            Shot("sign-out", "/accounts/logout/"),
            Shot("security", "/accounts/security/", caption="Security history"),
            Shot("two-factor", "/accounts/2fa/", caption="Two-factor authentication, none set up"),
            Shot("two-factor-app", "/accounts/2fa/totp/activate/", then="reauthenticate", caption="Set up an app"),
            Shot("passkeys", "/accounts/2fa/webauthn/", then="reauthenticate", caption="Passkeys, none yet"),
            Shot("passkey-add", "/accounts/2fa/webauthn/add/", then="reauthenticate"),
        ],
    ),
    Visitor(
        "pro",
        [
            Shot("pricing-pro", "/billing/pricing/"),
            Shot("subscription-pro", "/billing/subscription/"),
            Shot("billing-history", "/billing/history/"),
            Shot("pro-reports", "/billing/reports/", caption="The Pro-only page"),
            Shot(
                "deactivate-confirm-pro",
                "/accounts/deactivate/",
                then="reauthenticate",
                caption="Deactivate, with a subscription",
            ),
        ],
    ),
    Visitor(
        "late",
        [
            Shot("subscription-past-due", "/billing/subscription/"),
            Shot(
                "deactivate-confirm-past-due",
                "/accounts/deactivate/",
                then="reauthenticate",
                caption="Deactivate, payment past due",
            ),
        ],
    ),
    Visitor("leaving", [Shot("subscription-canceled-at-period-end", "/billing/subscription/")]),
    Visitor(
        "staff",
        [Shot("staff-admin-index", "/admin/", caption="Staff without a second factor: the admin waits for one")],
    ),
]

SECOND_FACTOR_STATE = (
    "a state of someone with an enrolled second factor, which no demo user has; swept at both sizes by "
    "tests/e2e/test_accessibility.py and drawn by tests/e2e/test_mfa.py's screenshots"
)

# The portal's named URLs that have no picture, and why. Every other named URL is one (or more) of the shots.
NOT_SHOWN = {
    "account_set_password": "redirects to the password change: every demo user has a password",
    "accounts_resend_verification": "POST action of the check-your-email page (shot)",
    "accounts_change_pending_address": "POST action of the check-your-email page (shot)",
    "accounts_end_session": "POST action of the sessions page (shot)",
    "billing_subscribe": "POST action of the pricing page; needs Stripe (not configured in the demo)",
    "billing_cancel": "POST action of the subscription page (shot)",
    "billing_resume": "POST action of the subscription page (shot)",
    "billing_portal": "POST action: a redirect to Stripe's billing portal",
    "billing_change_plan": "the preview is Stripe's answer: needs Stripe (not configured in the demo)",
    "billing_checkout_success": "where Stripe Checkout returns: needs a Checkout Session",
    "socialaccount_signup": "only in the middle of a Google/GitHub sign-in (none configured in the demo)",
    "google_login": "a redirect to Google (not configured in the demo)",
    "google_callback": "Google's redirect back",
    "google_login_by_token": "POST endpoint for Google's one-tap token",
    "github_login": "a redirect to GitHub (not configured in the demo)",
    "github_callback": "GitHub's redirect back",
    "favicon": "an icon, not a page",
    "accounts_picture": "a profile picture (image/webp), not a page",
    "accounts_remove_picture": "POST action of the profile page (shot)",
    "mfa_download_recovery_codes": "a text file download",
    "mfa_login_webauthn": "the passkey sign-in's POST endpoint behind the sign-in page's button (shot)",
    "mfa_deactivate_totp": SECOND_FACTOR_STATE,
    "mfa_view_recovery_codes": SECOND_FACTOR_STATE,
    "mfa_generate_recovery_codes": SECOND_FACTOR_STATE,
    "mfa_edit_webauthn": SECOND_FACTOR_STATE,
    "mfa_remove_webauthn": SECOND_FACTOR_STATE,
    "mfa_reauthenticate": SECOND_FACTOR_STATE,
    "mfa_reauthenticate_webauthn": SECOND_FACTOR_STATE,
    "mfa_authenticate": SECOND_FACTOR_STATE,
    "mfa_trust": SECOND_FACTOR_STATE,
    "healthz": "JSON probe (the status page is shot)",
    "livez": "plain-text probe",
    "readyz": "plain-text probe",
}
# The JSON API (api-*, docs/api-contract.md) and its Swagger UI are not portal pages.
NOT_SHOWN_PREFIXES = ("api-",)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", default=[], help="glob(s) of shot names, e.g. 'pricing-*'")
    parser.add_argument(
        "--readme",
        nargs="?",
        type=Path,
        const=README_PICTURES,
        help="also rewrite the README's pictures, in docs/screenshots/ or the folder given",
    )
    parser.add_argument("--database-url", help="an already migrated, empty database to use instead of a fresh SQLite")
    args = parser.parse_args(argv)
    started = time.monotonic()
    visitors = [_selected(visitor, args.only) for visitor in VISITORS]
    visitors = [visitor for visitor in visitors if visitor.shots]
    if not visitors:
        parser.error(f"no shot matches {args.only}")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="gatehouse-screenshots-") as folder:
        env = _embedded_default_env(Path(folder), database_url=args.database_url)
        if not args.database_url:
            _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "seed_demo", "--password", DEMO_PASSWORD)
        print(f"migrated and seeded ({time.monotonic() - started:.1f} s)")
        with _server(env) as base_url:
            taken = _take_all(base_url, visitors, args.out)
    (args.out / "index.html").write_text(_index(taken))
    if args.readme:
        _shrink_for_readme(args.out, args.readme)
    print(f"{len(taken) * len(SIZES)} screenshots in {args.out} ({time.monotonic() - started:.1f} s)")
    return 0


def _selected(visitor: Visitor, patterns: list[str]) -> Visitor:
    if not patterns:
        return visitor
    shots = [shot for shot in visitor.shots if any(fnmatch.fnmatch(shot.name, pattern) for pattern in patterns)]
    return Visitor(visitor.login, shots)


def _embedded_default_env(folder: Path, *, database_url: str | None = None) -> dict:
    """`make run`'s configuration, on a database of its own: nothing of the developer's is read or written."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "STRIPE_", "EMAIL_", "GATEHOUSE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url or f"sqlite:///{folder / 'db.sqlite3'}",
        SECRET_KEY=base64.b64encode(os.urandom(48)).decode(),
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict, *command: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, cwd=ROOT, check=True)  # noqa: S603 - our own manage.py


class _server:
    """runserver on a free loopback port, stopped (it and only it) when the block ends."""

    def __init__(self, env: dict):
        self.env = env

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}", "--noreload"]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)  # noqa: S603 - our own server
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{base_url}/livez", timeout=1).close()  # noqa: S310 - http on loopback
                return base_url
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise SystemExit("the app did not start: " + self._output())

    def _output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def __exit__(self, *exc_info):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _take_all(base_url: str, visitors: list[Visitor], out: Path) -> list[Shot]:
    from playwright.sync_api import sync_playwright

    taken = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for visitor in visitors:
                context = browser.new_context(base_url=base_url, viewport=SIZES["desktop"], locale="en-US")
                context.set_default_timeout(15_000)
                page = context.new_page()
                if visitor.login:
                    _sign_in(page, visitor.login)
                for shot in visitor.shots:
                    _take(page, shot, out)
                    taken.append(shot)
                context.close()
        finally:
            browser.close()
    return taken


def _sign_in(page, login: str) -> None:
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill(DEMO_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _take(page, shot: Shot, out: Path) -> None:
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        if shot.then == "code":
            page.context.clear_cookies()  # the other size's code sign-in is still pending in the session
        page.goto(shot.path)
        if shot.then:
            _send_form(page, shot.then, size)
        page.wait_for_load_state("load")
        page.screenshot(path=str(out / f"{size}-{shot.name}.png"), full_page=True, animations="disabled")
    page.set_viewport_size(SIZES["desktop"])


def _send_form(page, form: str, size: str) -> None:
    """The pages a form leads to: 'check your email' after a reset request or a sign-up, the code's page;
    the page behind the password asked again (deactivate), once it is asked (not again within minutes)."""
    if form == "reauthenticate":
        if "/accounts/reauthenticate/" in page.url:
            page.locator('input[name="password"]').fill(DEMO_PASSWORD)
            page.locator('main form[method="post"] button[type="submit"]').first.click()
            page.wait_for_url(lambda url: "/accounts/reauthenticate/" not in url)
        return
    if form in ("reset", "code"):
        page.locator('input[name="email"]').fill("free@example.com")
    else:
        page.locator('input[name="email"]').fill(f"new-{size}@example.com")
        page.locator('input[name="username"]').fill(f"new-{size}")
        page.locator('input[name="password1"]').fill(DEMO_PASSWORD)
        if page.locator('input[name="password2"]').count():
            page.locator('input[name="password2"]').fill(DEMO_PASSWORD)
    before = page.url
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(lambda url: url != before)


def _shrink_for_readme(out: Path, folder: Path) -> None:
    """The README's pictures: README_SCALE of the shot, README_COLOURS colours, optimised (a fraction of the size)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for (name, size), target in README_SHOTS.items():
        source = out / f"{size}-{name}.png"
        if not source.exists():
            continue
        with Image.open(source) as shot:
            small = shot.convert("RGB").resize(
                (round(shot.width * README_SCALE), round(shot.height * README_SCALE)), Image.Resampling.LANCZOS
            )
        small.quantize(colors=README_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            folder / target, optimize=True
        )


def _index(shots: list[Shot]) -> str:
    rows = []
    for shot in shots:
        cells = "".join(
            f'<td><a href="{size}-{shot.name}.png"><img src="{size}-{shot.name}.png" alt="{size} {shot.name}"'
            f' class="{size}"></a></td>'
            for size in SIZES
        )
        title = html.escape(shot.caption or shot.name)
        rows.append(f"<tr><th>{title}<br><code>{html.escape(shot.path)}</code></th>{cells}</tr>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gatehouse portal screenshots</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:1rem}th{text-align:left;vertical-align:top;"
        "padding-right:1rem;width:14rem}td{vertical-align:top;padding:0 .5rem 1.5rem 0}img{border:1px solid #ccc}"
        "img.desktop{width:640px}img.phone{width:195px}</style></head><body>"
        f"<h1>Gatehouse portal: {len(shots)} pages, desktop (1280x900) and phone (390x844)</h1>"
        "<p>Each picture is the whole page; click one for full size.</p>"
        f"<table>{''.join(rows)}</table></body></html>\n"
    )


if __name__ == "__main__":
    sys.exit(main())
