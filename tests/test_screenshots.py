"""`make screenshots`'s machinery: the demo data, the list of pages, and a small real run of the script."""

import importlib.util
import struct
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import NoReverseMatch, Resolver404, get_resolver, resolve, reverse
from djstripe.models import Invoice

from billing.access import has_access
from billing.models import Subscription, SubscriptionStatus
from billing.selectors import invoice_to_pay
from tests.billing.fake_billing import ensure_demo_plans

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "screenshots.py"
PORTAL_URLCONF = "config.urls"


def _load_script():
    spec = importlib.util.spec_from_file_location("screenshots_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshots = _load_script()
SHOTS = [shot for visitor in screenshots.VISITORS for shot in visitor.shots]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


# --- seed_demo -------------------------------------------------------------------------------------


@pytest.fixture
def seeded(db):
    call_command("seed_demo", password="seed-demo-test-1234")
    return {user.username: user for user in get_user_model().objects.all()}


def test_seed_demo_creates_the_five_demo_people_verified_with_the_password(seeded):
    assert sorted(seeded) == ["free", "late", "leaving", "pro", "staff"]
    for user in seeded.values():
        assert user.check_password("seed-demo-test-1234"), user.username
        assert EmailAddress.objects.filter(user=user, email=user.email, primary=True, verified=True).exists()
    assert seeded["staff"].is_staff
    assert seeded["staff"].is_superuser
    assert not any(seeded[name].is_staff for name in ("free", "pro", "late", "leaving"))


def test_seed_demo_free_user_is_on_the_free_plan(seeded):
    assert not Subscription.objects.filter(user=seeded["free"]).exists()
    assert not has_access(seeded["free"], "pro")


def test_seed_demo_pro_subscriber_renews_with_paid_invoices(seeded):
    pro = Subscription.objects.get(user=seeded["pro"])
    assert (pro.plan.code, pro.status, pro.cancel_at_period_end) == ("pro-monthly", SubscriptionStatus.ACTIVE, False)
    assert pro.current_period_start < pro.current_period_end
    assert has_access(seeded["pro"], "pro")
    statuses = list(
        Invoice.objects.filter(customer__subscriber=seeded["pro"]).values_list("stripe_data__status", flat=True)
    )
    assert statuses == ["paid", "paid", "paid"]
    assert invoice_to_pay(pro) is None


def test_seed_demo_past_due_subscriber_has_an_open_invoice_stripe_retries(seeded):
    late = Subscription.objects.get(user=seeded["late"])
    assert late.status == SubscriptionStatus.PAST_DUE
    assert has_access(seeded["late"], "pro")  # past due keeps access while Stripe retries
    owed = invoice_to_pay(late)
    assert owed["amount_due"] == late.plan.price_cents
    assert owed["hosted_invoice_url"].startswith("https://invoice.stripe.com/")
    assert owed["next_attempt"] > late.current_period_start


def test_seed_demo_leaving_subscriber_is_cancelled_at_period_end_with_access(seeded):
    leaving = Subscription.objects.get(user=seeded["leaving"])
    assert (leaving.status, leaving.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    assert leaving.canceled_at is not None
    assert has_access(seeded["leaving"], "pro")


def test_seed_demo_refuses_a_database_that_has_users(seeded):
    with pytest.raises(CommandError, match="already has users"):
        call_command("seed_demo")
    assert get_user_model().objects.count() == 5


def test_seed_demo_refuses_production(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()


# --- the page list ---------------------------------------------------------------------------------


def _named_urls() -> dict[str, str | None]:
    """Every top-level URL name of the portal's URLconf (config.urls, what `make screenshots` serves,
    named explicitly: a request made under another test's URLconf, e.g. bench.urls, can leave that one
    current in this thread) -> its path (None when it takes arguments)."""
    names = {}
    for name in get_resolver(PORTAL_URLCONF).reverse_dict:
        if not isinstance(name, str):
            continue
        try:
            names[name] = reverse(name, urlconf=PORTAL_URLCONF)
        except NoReverseMatch:
            names[name] = None
    return names


def _shown_names() -> set[str]:
    shown = set()
    for shot in SHOTS:
        try:
            shown.add(resolve(urlsplit(shot.path).path, urlconf=PORTAL_URLCONF).url_name)
        except Resolver404:
            continue
        if shot.lands_on:
            shown.add(shot.lands_on)
    return shown


def test_every_named_portal_url_is_shot_or_says_why_not():
    portal = {name for name in _named_urls() if not name.startswith(screenshots.NOT_SHOWN_PREFIXES)}
    missing = portal - _shown_names() - set(screenshots.NOT_SHOWN)
    assert not missing, f"no screenshot and no reason in NOT_SHOWN for: {sorted(missing)}"


def test_not_shown_lists_only_real_unshot_urls_with_a_reason():
    names = _named_urls()
    assert set(screenshots.NOT_SHOWN) <= set(names), "NOT_SHOWN names a URL that no longer exists"
    assert not set(screenshots.NOT_SHOWN) & _shown_names(), "NOT_SHOWN names a URL that is shot"
    assert all(reason.strip() for reason in screenshots.NOT_SHOWN.values())


def test_every_shot_path_is_a_real_page_and_every_name_is_unique():
    unresolved = []
    for shot in SHOTS:
        try:
            resolve(urlsplit(shot.path).path, urlconf=PORTAL_URLCONF)
        except Resolver404:
            unresolved.append(shot.name)
    assert unresolved == ["not-found"]  # the 404 page, on purpose
    names = [shot.name for shot in SHOTS]
    assert len(names) == len(set(names))
    assert all(name in _named_urls() for name in (shot.lands_on for shot in SHOTS if shot.lands_on))


def test_every_demo_state_has_its_pages():
    logins = {visitor.login for visitor in screenshots.VISITORS}
    assert logins == {"", "free", "pro", "late", "leaving", "staff"}
    deactivate = {shot.name for shot in SHOTS if shot.path == reverse("accounts_deactivate")}
    assert deactivate == {"deactivate-confirm", "deactivate-confirm-pro", "deactivate-confirm-past-due"}
    # The page asks for the password again first: without it the picture is the password form, three times.
    assert {shot.then for shot in SHOTS if shot.name in deactivate} == {"reauthenticate"}


def test_readme_pictures_are_shots():
    names = {shot.name for shot in SHOTS}
    for name, size in screenshots.README_SHOTS:
        assert name in names
        assert size in screenshots.SIZES


# --- a small real run ------------------------------------------------------------------------------


def test_script_refuses_a_pattern_that_matches_nothing():
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), "--only", "no-such-shot-*"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no shot matches" in result.stderr


def _test_database_url() -> str | None:
    """This run's own test database (migrated, and emptied by transactional_db), for the script to
    seed and serve: migrating a fresh SQLite file from nothing takes most of a minute. None on
    SQLite, whose test database lives in this process's memory: the script then makes its own."""
    database = connection.settings_dict
    if connection.vendor != "postgresql":
        return None
    user = quote(database["USER"] or "", safe="")
    password = f":{quote(database['PASSWORD'], safe='')}" if database["PASSWORD"] else ""
    host = database["HOST"] or "127.0.0.1"
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{database['NAME']}"


@pytest.mark.browser
def test_a_small_real_run_writes_both_sizes_an_index_and_the_readme_picture(tmp_path, transactional_db):
    ensure_demo_plans()  # an earlier transactional test's flush removed them
    out, readme = tmp_path / "portal", tmp_path / "readme"
    out.mkdir()
    (out / "desktop-stale.png").write_bytes(b"left from an earlier run")
    command = [sys.executable, str(SCRIPT), "--out", str(out), "--readme", str(readme), "--only", "pricing-free"]
    if database_url := _test_database_url():
        command += ["--database-url", database_url]
    result = subprocess.run(  # noqa: S603 - our own script
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "2 screenshots in" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "desktop-pricing-free.png",
        "index.html",
        "phone-pricing-free.png",
    ]
    width, height = _png_size(out / "desktop-pricing-free.png")
    assert width == 1280
    assert height >= 900
    width, height = _png_size(out / "phone-pricing-free.png")
    assert width == 390
    assert height >= 844
    index = (out / "index.html").read_text()
    assert '<img src="desktop-pricing-free.png"' in index
    assert '<img src="phone-pricing-free.png"' in index
    assert "<code>/billing/pricing/</code>" in index
    assert get_user_model().objects.filter(username__in=["free", "pro", "late", "leaving", "staff"]).count() == (
        5 if database_url else 0  # seeded into the database it was given, or into its own
    )
    # Only the README picture that was shot; half size, a fraction of the shot's bytes.
    assert [path.name for path in readme.iterdir()] == ["pricing.png"]
    assert _png_size(readme / "pricing.png")[0] == 640
    assert (readme / "pricing.png").stat().st_size < 150_000
