"""Profile page: the username shown, the picture uploaded (decoded, re-encoded, served), removed."""

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts import pictures
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def member(user) -> Client:
    browser = Client()
    browser.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    return browser


def image_bytes(fmt="PNG", size=(800, 600), color=(200, 30, 60), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def upload(data: bytes, name="me.png", content_type="image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def post_picture(client, data, **kwargs):
    return client.post("/accounts/profile/", {"first_name": "Ada", "last_name": "", "picture": upload(data, **kwargs)})


def stored(user) -> Image.Image:
    user.profile.refresh_from_db()
    with default_storage.open(user.profile.picture.name) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def test_the_profile_page_shows_the_username_read_only_with_why(member):
    page = member.get("/accounts/profile/").content.decode()
    assert '<span class="profile-username">alice</span>' in page
    assert "cannot be changed here, so your saved sign-ins keep working" in page
    assert 'name="username"' not in page
    assert 'name="image_url"' not in page
    assert 'type="file" name="picture"' in page
    assert 'accept="image/png,image/jpeg,image/webp,image/gif"' in page
    assert 'enctype="multipart/form-data"' in page


def test_a_png_is_stored_square_resized_as_webp_and_shown_on_the_page(member, user):
    response = post_picture(member, image_bytes(size=(1200, 800)))
    assert response.status_code == 302
    image = stored(user)
    assert (image.format, image.size) == ("WEBP", (pictures.SIZE, pictures.SIZE))
    assert user.profile.first_name == "Ada"
    name = user.profile.picture.name
    assert name == pictures.stored_name(user.pk, default_storage.open(name).read())
    page = member.get("/accounts/profile/").content.decode()
    assert f'<img class="avatar" src="{user.profile.picture_path}"' in page
    assert "Remove picture" in page


def test_exif_is_stripped_and_its_orientation_applied(member, user):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "SecretCam"  # make
    exif[0x010E] = "Taken at 52.5200 N 13.4050 E"  # description, as location apps write it
    # A tall red top half and blue bottom half; after orientation 6 the red half is on the right.
    photo = Image.new("RGB", (400, 400), (0, 0, 255))
    photo.paste((255, 0, 0), (0, 0, 400, 200))
    out = io.BytesIO()
    photo.save(out, format="JPEG", exif=exif, quality=95)
    assert post_picture(member, out.getvalue(), name="me.jpg", content_type="image/jpeg").status_code == 302
    image = stored(user)
    assert not image.info.get("exif")
    assert not image.getexif()
    raw = default_storage.open(user.profile.picture.name).read()
    assert b"SecretCam" not in raw
    assert b"52.5200" not in raw
    right, left = image.getpixel((pictures.SIZE - 10, pictures.SIZE // 2)), image.getpixel((10, pictures.SIZE // 2))
    assert right[0] > 200 > right[2]
    assert left[2] > 200 > left[0]


def test_transparency_survives(member, user):
    assert post_picture(member, image_bytes(mode="RGBA", color=(0, 0, 0, 0))).status_code == 302
    assert stored(user).mode == "RGBA"


def test_a_file_that_only_claims_to_be_a_png_is_refused_with_a_form_error(member, user):
    response = post_picture(member, b"<script>alert(1)</script>" + b"x" * 500, name="evil.png")
    assert response.status_code == 422
    assert "That file is not a picture we can read. Upload a PNG, JPEG, WebP or GIF image." in response.content.decode()
    user.profile.refresh_from_db()
    assert (user.profile.picture.name, user.profile.first_name) == ("", "")


def test_a_truncated_png_is_refused(member, user):
    response = post_picture(member, image_bytes()[:200])
    assert response.status_code == 422
    assert "not a picture we can read" in response.content.decode()


def test_a_real_image_in_a_format_we_do_not_take_is_refused(member):
    response = post_picture(member, image_bytes("BMP"), name="me.png")
    assert response.status_code == 422
    assert "not a picture we can read" in response.content.decode()


def test_a_file_over_the_limit_is_refused_by_size_without_being_kept(member, user, settings):
    settings.PROFILE_PICTURE_MAX_BYTES = 50_000
    big = image_bytes(size=(4, 4)) + b"\0" * 120_000
    response = post_picture(member, big)
    assert response.status_code == 422
    assert "That file is 0.1 MB; a picture can be at most 0.0476837 MB." in response.content.decode()
    user.profile.refresh_from_db()
    assert not user.profile.picture


def test_the_upload_handler_keeps_only_the_limit_in_memory_but_reports_the_real_size(settings, rf):
    settings.PROFILE_PICTURE_MAX_BYTES = 1000
    handler = pictures.PictureUploadHandler(rf.post("/"))
    handler.new_file("picture", "big.png", "image/png", 5000)
    for start in range(0, 5000, 500):
        handler.receive_data_chunk(b"a" * 500, start)
    uploaded = handler.file_complete(5000)
    assert uploaded.size == 5000
    assert len(uploaded.read()) == 1000


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge canvas (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [7000, 20_000, 100_000])
def test_a_decompression_bomb_is_refused_before_decoding(member, user, side):
    response = post_picture(member, _png_header_only(side, side))
    assert response.status_code == 422
    assert "megapixels" in response.content.decode()
    user.profile.refresh_from_db()
    assert not user.profile.picture


def test_the_picture_is_served_with_cache_and_nosniff_headers_and_304s(member, user, client):
    post_picture(member, image_bytes())
    user.profile.refresh_from_db()
    path = user.profile.picture_path
    response = client.get(path)  # no session: API clients load it by URL
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    body = b"".join(response.streaming_content)
    assert Image.open(io.BytesIO(body)).format == "WEBP"
    again = client.get(path, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_a_new_picture_is_a_new_url_and_the_old_file_goes(member, user, django_capture_on_commit_callbacks):
    post_picture(member, image_bytes(color=(1, 2, 3)))
    user.profile.refresh_from_db()
    first = user.profile.picture.name
    with django_capture_on_commit_callbacks(execute=True):
        post_picture(member, image_bytes(color=(200, 200, 10)))
    user.profile.refresh_from_db()
    assert user.profile.picture.name != first
    assert not default_storage.exists(first)
    assert member.get(pictures.url_path(first)).status_code == 404


def test_remove_picture_clears_it_and_the_url_stops_serving(member, user, django_capture_on_commit_callbacks):
    post_picture(member, image_bytes())
    user.profile.refresh_from_db()
    name, path = user.profile.picture.name, user.profile.picture_path
    with django_capture_on_commit_callbacks(execute=True):
        response = member.post("/accounts/profile/picture/remove/")
    assert response.status_code == 302
    user.profile.refresh_from_db()
    assert (user.profile.picture.name, user.profile.image_url) == ("", "")
    assert not default_storage.exists(name)
    assert member.get(path).status_code == 404
    assert "Remove picture" not in member.get("/accounts/profile/").content.decode()


def test_remove_picture_also_clears_an_external_image_url(member, user):
    user.profile.image_url = "https://avatars.example.com/alice.png"
    user.profile.save()
    page = member.get("/accounts/profile/").content.decode()
    assert "avatars.example.com" not in page  # pages load nothing from other sites
    assert "Remove picture" in page
    member.post("/accounts/profile/picture/remove/")
    user.profile.refresh_from_db()
    assert user.profile.image_url == ""


def test_remove_picture_needs_a_post(member):
    assert member.get("/accounts/profile/picture/remove/").status_code == 405


def test_a_deactivated_persons_picture_is_not_served(member, user, client):
    post_picture(member, image_bytes())
    user.profile.refresh_from_db()
    user.is_active = False
    user.save()
    assert client.get(user.profile.picture_path).status_code == 404


def test_an_unknown_or_malformed_picture_name_is_a_404(client):
    assert client.get("/accounts/pictures/" + "0" * 40 + ".webp").status_code == 404
    assert client.get("/accounts/pictures/../../settings.py").status_code == 404
    assert client.get("/accounts/pictures/" + "0" * 40 + ".html").status_code == 404


def test_two_people_with_the_same_picture_have_their_own_files(member, user, django_capture_on_commit_callbacks):
    other = UserFactory(username="bob", email="bob@example.com")
    bob = Client()
    bob.post("/accounts/login/", {"login": "bob", "password": DEFAULT_PASSWORD})
    same = image_bytes()
    post_picture(member, same)
    post_picture(bob, same)
    user.profile.refresh_from_db()
    other.profile.refresh_from_db()
    assert user.profile.picture.name != other.profile.picture.name
    with django_capture_on_commit_callbacks(execute=True):
        member.post("/accounts/profile/picture/remove/")
    assert bob.get(other.profile.picture_path).status_code == 200


def test_an_unwritable_media_root_is_a_clear_error_not_a_500(member, user, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = str(blocker)
    response = post_picture(member, image_bytes())
    assert response.status_code == 503
    assert "We cannot save pictures right now." in response.content.decode()
    user.profile.refresh_from_db()
    assert (user.profile.picture.name, user.profile.first_name) == ("", "")


def test_the_profile_form_still_saves_names_without_a_picture(member, user):
    response = member.post("/accounts/profile/", {"first_name": "Ada", "last_name": "Lovelace"})
    assert response.status_code == 302
    user.profile.refresh_from_db()
    assert (user.profile.first_name, user.profile.last_name, user.profile.picture.name) == ("Ada", "Lovelace", "")


def test_the_upload_form_keeps_its_csrf_check(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/accounts/profile/", {"first_name": "Mallory", "picture": upload(image_bytes())})
    assert response.status_code == 403
    user.profile.refresh_from_db()
    assert user.profile.first_name == ""


def test_saves_are_rate_limited_per_person(member, settings):
    settings.PROFILE_RATE_LIMIT = "2/m"
    for _ in range(2):
        assert post_picture(member, image_bytes(size=(64, 64))).status_code == 302
    response = post_picture(member, image_bytes(size=(64, 64)))
    assert response.status_code == 429
    assert member.get("/accounts/profile/").status_code == 200  # reading the page is not limited
