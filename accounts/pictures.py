"""Profile pictures: what an upload must be, how it is stored, and how it is served.

An upload is trusted for nothing it says about itself (name, extension, Content-Type): it is
decoded by Pillow, limited in bytes and in pixels before any pixel is decoded (a small PNG can
declare 100 000 x 100 000 pixels), cropped to a square, resized and re-encoded as WebP from the
raw pixels only, so no EXIF (location, camera), ICC or comment metadata and nothing a browser
could sniff as HTML or script survives.

The stored name is content-addressed per user (sha256 of the user id and the encoded bytes): a
new picture is a new URL, so the serving view can let browsers and proxies keep it for a year.
Files go to Django's default storage (MEDIA_ROOT); accounts.views.picture streams them, so
production needs no web-server alias and whitenoise stays static-only.
"""

import hashlib
import io
import logging
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.db import transaction
from django.urls import reverse
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

# Formats people upload from phones and desktops; decoded by content, never by name.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
ACCEPT_ATTRIBUTE = "image/png,image/jpeg,image/webp,image/gif"
# The stored picture: a square this many pixels wide, WebP.
SIZE = 512
CONTENT_TYPE = "image/webp"
FOLDER = "pictures"
# Decoding 40 megapixels takes ~160 MB as RGBA; more is refused before decoding. JPEGs are
# decoded at a reduced scale anyway (draft mode), so large phone photos stay cheap.
MAX_PIXELS = 40_000_000
DIGEST_LENGTH = 40

TOO_LARGE = "too_large"
NOT_AN_IMAGE = "not_an_image"
TOO_MANY_PIXELS = "too_many_pixels"


def max_bytes() -> int:
    return settings.PROFILE_PICTURE_MAX_BYTES


def describe_limit() -> str:
    megabytes = max_bytes() / (1024 * 1024)
    return f"{megabytes:g} MB"


def normalize(upload) -> bytes:
    """The picture as we store it (WebP, SIZE x SIZE, no metadata), or a ValidationError."""
    if upload.size is not None and upload.size > max_bytes():
        raise ValidationError(
            f"That file is {upload.size / (1024 * 1024):.1f} MB; a picture can be at most {describe_limit()}.",
            code=TOO_LARGE,
        )
    not_an_image = ValidationError(
        "That file is not a picture we can read. Upload a PNG, JPEG, WebP or GIF image.", code=NOT_AN_IMAGE
    )
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns below twice its limit; ours refuses earlier.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=ACCEPTED_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS or width < 1 or height < 1:
                    raise ValidationError(
                        f"That picture is {width} x {height} pixels; it can have at most "
                        f"{MAX_PIXELS // 1_000_000} megapixels.",
                        code=TOO_MANY_PIXELS,
                    )
                if image.format == "JPEG":
                    # Decode at 1/2, 1/4 or 1/8 scale when that still covers the square.
                    image.draft("RGB", (SIZE * 2, SIZE * 2))
                image.seek(0)  # animated GIF/WebP: the first frame
                image.load()
                pixels = _square(image)
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(
            f"That picture has too many pixels; it can have at most {MAX_PIXELS // 1_000_000} megapixels.",
            code=TOO_MANY_PIXELS,
        ) from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as error:
        logger.info("Refused a profile picture upload: %s", error.__class__.__name__)
        raise not_an_image from None
    out = io.BytesIO()
    pixels.save(out, format="WEBP", quality=85, method=4)
    return out.getvalue()


def _square(image: Image.Image) -> Image.Image:
    """Upright (EXIF orientation applied), cropped to the middle square, SIZE wide, metadata-free."""
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    image = ImageOps.fit(image, (SIZE, SIZE), Image.Resampling.LANCZOS)
    # A fresh image from the raw pixels carries no info dict: nothing (EXIF, ICC, XMP) is re-saved.
    return Image.frombytes(image.mode, image.size, image.tobytes())


def stored_name(user_id: int, data: bytes) -> str:
    digest = hashlib.sha256(f"{user_id}:".encode() + data).hexdigest()[:DIGEST_LENGTH]
    return f"{FOLDER}/{digest}.webp"


def digest_of(name: str) -> str:
    return name.removeprefix(f"{FOLDER}/").removesuffix(".webp")


def url_path(name: str) -> str:
    return reverse("accounts_picture", kwargs={"digest": digest_of(name)})


class PictureUploadHandler(FileUploadHandler):
    """Keeps an upload in memory up to the size limit and only counts the bytes past it.

    Django's default handlers spill uploads above 2.5 MB into a temporary file, which fails on
    the production image's read-only root; and a huge upload need not be kept at all to be
    refused. The file handed to the form holds at most max_bytes() bytes but reports the real
    size, so normalize() refuses it by size with the size in the message.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.total = 0

    def receive_data_chunk(self, raw_data, start):
        self.total += len(raw_data)
        if self.total <= max_bytes():
            self.buffer.write(raw_data)

    def file_complete(self, file_size):
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self.total,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class StorageUnavailable(Exception):
    """MEDIA_ROOT cannot be written (a read-only root without its volume, a full disk)."""


def replace(profile, data: bytes) -> None:
    """Store a picture made by normalize() as the profile's; the previous file goes once the change commits.

    The file is written before the row changes and outside any transaction: if the row update
    fails, an unreferenced file stays (the same upload finds it again by name), never a row
    pointing at nothing. An uploaded picture replaces an external image URL (from Google or an
    API client).
    """
    name = stored_name(profile.user_id, data)
    try:
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(data))
            if saved != name:  # a concurrent save of the same bytes won the name
                default_storage.delete(saved)
    except OSError as error:
        logger.error("Cannot store a profile picture under MEDIA_ROOT: %s", error)
        raise StorageUnavailable from error
    _point_at(profile, picture=name, image_url="")


def remove(profile) -> None:
    """No picture at all: neither an uploaded one nor an external URL."""
    _point_at(profile, picture="", image_url="")


def set_external_url(profile, url: str) -> None:
    """An API client sets an image URL of its own: it replaces an uploaded picture."""
    _point_at(profile, picture="", image_url=url)


def _point_at(profile, *, picture: str, image_url: str) -> None:
    previous = profile.picture.name or ""
    profile.picture.name = picture
    profile.image_url = image_url
    profile.save(update_fields=["picture", "image_url", "updated_at"])
    if previous and previous != picture:
        transaction.on_commit(lambda: _delete_quietly(previous))


def _delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except OSError as error:
        # Unreferenced, so never served (the view looks the name up); only disk space is lost.
        logger.warning("Could not delete the replaced profile picture %s: %s", name, error)
