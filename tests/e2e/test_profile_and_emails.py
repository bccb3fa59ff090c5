"""Profile and email addresses in Chromium at desktop and phone size (issue 15, item 10)."""

import io

import pytest
from allauth.account.models import EmailAddress
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.shell import SIZES, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "profile-and-emails"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def png_bytes() -> bytes:
    out = io.BytesIO()
    photo = Image.new("RGB", (900, 600), (250, 200, 60))
    photo.paste((40, 90, 180), (300, 100, 600, 500))
    photo.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_profile_shows_the_username_uploads_a_picture_refuses_a_fake_one_and_removes_it(
    page, live_server, screenshot, size
):
    user = UserFactory(username="pia", email="pia@example.com")
    sign_in(page.context, live_server, user)
    page.set_viewport_size(SIZES[size])
    page.goto("/accounts/profile/")
    expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_visible()
    expect(page.locator(".profile-username")).to_have_text("pia")
    expect(page.get_by_text("It cannot be changed here")).to_be_visible()
    expect(page.get_by_role("button", name="Remove picture")).to_have_count(0)
    screenshot(f"profile-empty-{size}")

    # A real PNG: saved, then shown as the current picture (512 px WebP from our own URL).
    picture = page.get_by_label("New picture")
    picture.set_input_files({"name": "pia.png", "mimeType": "image/png", "buffer": png_bytes()})
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your new picture and profile are saved.")).to_be_visible()
    preview = page.get_by_role("img", name="Your current picture")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [True, 512, 512]
    assert preview.get_attribute("src").startswith("/accounts/pictures/")
    screenshot(f"profile-with-picture-{size}")

    # A text file named .png and sent as image/png: refused with the reason at the field.
    picture = page.get_by_label("New picture")
    picture.set_input_files({"name": "cat.png", "mimeType": "image/png", "buffer": b"GIF89a? no, <html>text</html>"})
    page.get_by_role("button", name="Save profile").click()
    error = page.get_by_text("That file is not a picture we can read. Upload a PNG, JPEG, WebP or GIF image.")
    expect(error).to_be_visible()
    expect(page.get_by_label("New picture")).to_have_attribute("aria-invalid", "true")
    expect(preview).to_be_visible()  # the current picture is still the one shown
    screenshot(f"profile-not-an-image-{size}")
    user.profile.refresh_from_db()
    kept = user.profile.picture.name
    assert kept

    page.get_by_role("button", name="Remove picture").click()
    expect(page.get_by_text("Your picture is removed.")).to_be_visible()
    expect(page.get_by_role("img", name="Your current picture")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove picture")).to_have_count(0)
    user.profile.refresh_from_db()
    assert not user.profile.picture


def row(page, address: str):
    return page.locator("li.row", has=page.get_by_text(address, exact=True))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_each_email_row_has_only_its_own_actions_and_they_work(page, live_server, screenshot, size):
    user = UserFactory(username="ravi", email="ravi@example.com")
    EmailAddress.objects.create(user=user, email="ravi.work@example.com", verified=True)
    EmailAddress.objects.create(user=user, email="ravi.new@example.com", verified=False)
    sign_in(page.context, live_server, user, reauthenticated=True)  # address changes ask for the password first
    page.set_viewport_size(SIZES[size])
    page.goto("/accounts/email/")
    expect(page.get_by_role("heading", name="Email addresses")).to_be_visible()
    expect(page.get_by_role("radio")).to_have_count(0)

    primary, work, new = (
        row(page, "ravi@example.com"),
        row(page, "ravi.work@example.com"),
        row(page, "ravi.new@example.com"),
    )
    expect(primary.get_by_role("button")).to_have_count(0)
    expect(primary.get_by_text("Primary", exact=True)).to_be_visible()
    expect(work.get_by_role("button")).to_have_text(["Make primary", "Remove"])
    expect(new.get_by_role("button")).to_have_text(["Resend verification", "Remove"])
    expect(new.get_by_text("Unverified", exact=True)).to_be_visible()
    for button in page.locator("li.row button").all():
        box = button.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= SIZES[size]["width"], "a row's button runs off the screen"
        assert box["height"] >= 24, "too small to tap"
    screenshot(f"email-rows-{size}")

    new.get_by_role("button", name="Resend verification to ravi.new@example.com").click()
    expect(page.get_by_text("Confirmation email sent to ravi.new@example.com.")).to_be_visible()

    work.get_by_role("button", name="Make ravi.work@example.com primary").click()
    expect(page.get_by_text("Primary email address set.")).to_be_visible()
    expect(row(page, "ravi.work@example.com").get_by_role("button")).to_have_count(0)
    expect(row(page, "ravi@example.com").get_by_role("button")).to_have_text(["Make primary", "Remove"])

    row(page, "ravi.new@example.com").get_by_role("button", name="Remove ravi.new@example.com").click()
    expect(page.get_by_text("Removed email address ravi.new@example.com.")).to_be_visible()
    expect(row(page, "ravi.new@example.com")).to_have_count(0)
    screenshot(f"email-after-actions-{size}")
    assert EmailAddress.objects.get(user=user, primary=True).email == "ravi.work@example.com"
    assert not EmailAddress.objects.filter(email="ravi.new@example.com").exists()

    page.get_by_label("Email").fill("ravi.home@example.com")
    page.get_by_role("button", name="Add address").click()
    expect(row(page, "ravi.home@example.com").get_by_role("button")).to_have_text(["Resend verification", "Remove"])
