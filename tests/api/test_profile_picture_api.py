"""The contract's `profile.image_url` with pictures uploaded in the portal (api-contract.md)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SITE_URL = "https://gatehouse.example.com"


@pytest.fixture
def signed_in_api(api, user):
    body = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    return api


def upload_in_portal(user) -> str:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (10, 120, 200)).save(out, format="PNG")
    portal = Client()
    portal.force_login(user)
    picture = SimpleUploadedFile("me.png", out.getvalue(), content_type="image/png")
    assert portal.post("/accounts/profile/", {"first_name": "Ada", "picture": picture}).status_code == 302
    user.profile.refresh_from_db()
    return user.profile.picture_path


def test_me_returns_the_uploaded_pictures_absolute_url_which_loads_without_a_session(signed_in_api, user, client):
    path = upload_in_portal(user)
    image_url = signed_in_api.get("/api/me").json()["profile"]["image_url"]
    assert image_url == "https://gatehouse.example.com" + path
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"


def test_patching_back_the_same_url_keeps_the_uploaded_picture(signed_in_api, user):
    path = upload_in_portal(user)
    me = signed_in_api.get("/api/me").json()
    response = signed_in_api.patch("/api/me", {**me["profile"], "first_name": "Grace"}, format="json")
    assert response.status_code == 200
    assert response.json()["profile"]["image_url"] == "https://gatehouse.example.com" + path
    user.profile.refresh_from_db()
    assert (user.profile.first_name, user.profile.picture_path) == ("Grace", path)


def test_an_external_url_from_the_app_replaces_the_uploaded_picture(
    signed_in_api, user, django_capture_on_commit_callbacks
):
    path = upload_in_portal(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_api.patch("/api/me", {"image_url": "https://img.example.com/new.png"}, format="json")
    assert response.json()["profile"]["image_url"] == "https://img.example.com/new.png"
    user.profile.refresh_from_db()
    assert (user.profile.picture.name, user.profile.image_url) == ("", "https://img.example.com/new.png")
    assert Client().get(path).status_code == 404


def test_an_empty_image_url_removes_the_picture(signed_in_api, user):
    upload_in_portal(user)
    response = signed_in_api.patch("/api/me", {"image_url": ""}, format="json")
    assert response.json()["profile"]["image_url"] == ""
    user.profile.refresh_from_db()
    assert not user.profile.picture


def test_a_patch_without_image_url_leaves_the_picture_alone(signed_in_api, user):
    path = upload_in_portal(user)
    signed_in_api.patch("/api/me", {"last_name": "Lovelace"}, format="json")
    user.profile.refresh_from_db()
    assert (user.profile.last_name, user.profile.picture_path) == ("Lovelace", path)
