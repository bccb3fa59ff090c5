"""The session list: each session as a person says it, when it was last active, and its own sign-out."""

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from django.utils import timezone

from accounts.user_agents import describe_user_agent
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)


def browser(user_agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent)
    client.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    return client


@pytest.mark.parametrize(
    ("user_agent", "said"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
            "Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
            "Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
            "Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "An unknown browser"),
        ("", "An unknown browser"),
    ],
)
def test_it_names_the_browser_and_the_system(user_agent, said):
    assert describe_user_agent(user_agent) == said


def test_each_session_says_browser_last_active_and_this_device(user):
    laptop, phone = browser(CHROME_LINUX), browser(SAFARI_IPHONE)
    UserSession.objects.filter(user_agent=SAFARI_IPHONE).update(last_seen_at=timezone.now() - timedelta(minutes=2))
    page = laptop.get("/accounts/sessions/").content.decode()
    assert (
        '<strong>Chrome on Linux</strong> · active now · <span class="badge badge-success">this device</span>' in page
    )
    assert "<strong>Safari on iPhone</strong> · last active" in page
    assert "2\xa0minutes ago" in page
    assert CHROME_LINUX not in page.replace("&#x27;", "'").split("<main", 1)[1].split("aria-label")[0]
    assert page.split("<main", 1)[1].count(">Sign out</button>") == 2, "one sign-out button per session"
    assert phone.get("/accounts/profile/").status_code == 200


def test_one_session_can_be_signed_out_from_another(user):
    laptop, phone = browser(CHROME_LINUX), browser(SAFARI_IPHONE)
    target = UserSession.objects.get(user_agent=SAFARI_IPHONE)
    response = laptop.post(f"/accounts/sessions/{target.pk}/sign-out/")
    assert response["Location"] == "/accounts/sessions/"
    assert phone.get("/accounts/profile/").status_code == 302
    assert laptop.get("/accounts/profile/").status_code == 200
    assert not UserSession.objects.filter(pk=target.pk).exists()


def test_signing_out_this_device_from_the_list_signs_out_here(user):
    laptop = browser(CHROME_LINUX)
    mine = UserSession.objects.get(user_agent=CHROME_LINUX)
    response = laptop.post(f"/accounts/sessions/{mine.pk}/sign-out/")
    assert response["Location"] == "/"
    assert laptop.get("/accounts/profile/").status_code == 302


def test_nobody_can_sign_out_someone_elses_session(user, staff):
    alice_phone = browser(SAFARI_IPHONE)
    theirs = UserSession.objects.get(user=user)
    intruder = Client()
    intruder.force_login(staff)
    intruder.post(f"/accounts/sessions/{theirs.pk}/sign-out/")
    assert UserSession.objects.filter(pk=theirs.pk).exists()
    assert alice_phone.get("/accounts/profile/").status_code == 200


def test_last_active_moves_with_use_but_is_written_at_most_once_a_minute(user, django_assert_num_queries):
    laptop = browser(CHROME_LINUX)
    session = UserSession.objects.get(user=user)
    UserSession.objects.filter(pk=session.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    from django.core.cache import cache

    cache.clear()  # a minute later
    laptop.get("/accounts/profile/")
    session.refresh_from_db()
    assert timezone.now() - session.last_seen_at < timedelta(seconds=5)
    UserSession.objects.filter(pk=session.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    laptop.get("/accounts/profile/")
    session.refresh_from_db()
    assert timezone.now() - session.last_seen_at > timedelta(minutes=59), "not written again within the minute"
