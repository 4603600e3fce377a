"""What an uploaded file is, made safe to serve, and the signed links it is served by.

The type is read from the bytes, never from the file's name or the browser's Content-Type:
a page named `photo.png` is HTML here and is refused. Images are decoded and re-encoded by
Pillow (only the formats listed in IMAGE_FORMATS are even tried, so no plugin that shells out
runs), which drops EXIF (GPS position, camera serial) and anything appended after the image,
and a thumbnail is made. Every other file is kept as uploaded and only ever served as a
download (`Content-Disposition: attachment`) under the type detected here.

Links are capabilities: `django.core.signing` over (attachment id, merchant id, variant) with a
timestamp, checked for age when served (ATTACHMENT_URL_MAX_AGE). Writes are in
conversations/services/attachments.py; docs/attachments.md has the rules.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse
from django.utils.functional import LazyObject, empty
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

from kefu.errors import KefuError

from . import protocol

# Pillow tries only these decoders (Image.open(formats=...)): all pure decoders, none that calls
# out to Ghostscript (EPS) or reads vector/markup formats.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
# What each decoded format is stored as: the web formats stay what they were, the others become
# PNG (lossless) so every browser shows them.
IMAGE_OUTPUT = {
    "JPEG": ("JPEG", "image/jpeg", ".jpg"),
    "PNG": ("PNG", "image/png", ".png"),
    "GIF": ("GIF", "image/gif", ".gif"),
    "WEBP": ("WEBP", "image/webp", ".webp"),
    "BMP": ("PNG", "image/png", ".png"),
    "TIFF": ("PNG", "image/png", ".png"),
}
THUMBNAIL_SIZE = (480, 480)
# Animated GIF/WebP keep their animation up to this many frames (each is decoded and encoded
# again: a bound on the CPU one upload can take); longer ones keep their first frame.
MAX_FRAMES = 200
NAME_MAX = 120
URL_SALT = "kefu.attachment"

# Leading bytes of the non-image types a merchant may allow (merchants.models.ATTACHMENT_TYPES):
# (prefix, offset, category, content type, extension).
_MAGIC = (
    (b"%PDF-", 0, "pdf", "application/pdf", ".pdf"),
    (b"7z\xbc\xaf\x27\x1c", 0, "archive", "application/x-7z-compressed", ".7z"),
    (b"Rar!\x1a\x07", 0, "archive", "application/vnd.rar", ".rar"),
    (b"\x1f\x8b", 0, "archive", "application/gzip", ".gz"),
    (b"ID3", 0, "media", "audio/mpeg", ".mp3"),
    (b"OggS", 0, "media", "audio/ogg", ".ogg"),
    (b"\x1a\x45\xdf\xa3", 0, "media", "video/webm", ".webm"),
    (b"ftyp", 4, "media", "video/mp4", ".mp4"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        0,
        "office",
        "application/x-ole-storage",
        ".doc",
    ),
)
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
# Names a user may keep for a detected type; any other gets the type's own extension, so a
# download never opens as something other than what it is.
_EXTENSIONS = {
    "image/jpeg": {".jpg", ".jpeg"},
    "application/pdf": {".pdf"},
    "application/x-ole-storage": {".doc", ".xls", ".ppt", ".msg"},
    "application/zip": {".zip"},
    "text/plain": {".txt", ".csv", ".log", ".md", ".tsv", ".json"},
    "application/gzip": {".gz", ".tgz"},
    "audio/mpeg": {".mp3"},
    "video/mp4": {".mp4", ".m4a", ".mov"},
}
_OOXML = {
    "word/": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    "xl/": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    "ppt/": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ".pptx",
    ),
}
_ODF = {
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/vnd.oasis.opendocument.presentation": ".odp",
}
# Markup a browser would run if it ever rendered the file: refused whatever it is named.
_MARKUP = re.compile(
    rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|a\s|img\s|div|"
    rb"style|xsl|x:xmpmeta|cross-domain-policy)",
    re.IGNORECASE,
)

# Refusals, translated for the widget and the workspace (the API's `detail` too).
E_EMPTY = _("The file is empty.")
E_TOO_LARGE = _("The file is larger than %(mb)s MB.")
E_TYPE = _("This type of file cannot be sent here.")
E_DAMAGED = _("The image is damaged or incomplete.")
E_PIXELS = _("The image is too large (more than %(mp)s megapixels).")
E_OFF = _("Attachments are turned off.")
E_RATE = _("Too many uploads; try again later.")


def max_bytes_for(merchant) -> int:
    """The largest file `merchant` accepts: its own limit under the server's ceiling."""
    return min(merchant.attachment_max_mb, settings.ATTACHMENT_MAX_MB) << 20


def refuse_declared_size(request, max_bytes: int) -> None:
    """Refuse by Content-Length before the body is read: a client announcing 2 GB is answered
    at once, not after the server has spooled it to disk."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes + (64 << 10):  # the file plus the form's other fields and boundaries
        raise refuse(protocol.ErrorCode.FILE_TOO_LARGE, E_TOO_LARGE, mb=max_bytes >> 20)


def refuse(code: str, message, **params) -> KefuError:
    return KefuError(code, str(message) % params if params else str(message), field="file")


@dataclass
class Processed:
    """An upload made ready to store: the bytes to keep and what they are."""

    kind: str  # "image" or "file"
    category: str  # one of merchants.models.ATTACHMENT_TYPES
    content_type: str
    name: str
    data: bytes | None  # re-encoded image; None: store the upload as it came
    thumbnail: bytes | None = None
    thumbnail_type: str = ""
    width: int | None = None
    height: int | None = None


def file_sha256(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def clean_name(name: str) -> str:
    """A display and download name: no path, no control or format characters (RTL override
    tricks such as `invoice\u202egpj.exe`), at most NAME_MAX characters. It is text, always
    rendered as text by the clients."""
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if len(name) > NAME_MAX:
        stem, ext = os.path.splitext(name)
        name = stem[: NAME_MAX - len(ext[:12])] + ext[:12]
    return name or "file"


def _named(name: str, content_type: str, ext: str) -> str:
    stem, current = os.path.splitext(name)
    if current.lower() in _EXTENSIONS.get(content_type, {ext}):
        return name
    return (stem or "file") + ext


def inspect(upload, *, allowed: set[str], max_bytes: int) -> Processed:
    """Decide what `upload` (a Django UploadedFile) is and prepare it, or raise KefuError with
    field "file": file_empty, file_too_large, file_type, file_damaged."""
    if not allowed:
        raise refuse(protocol.ErrorCode.FILE_TYPE, E_OFF)
    if upload.size == 0:
        raise refuse(protocol.ErrorCode.FILE_EMPTY, E_EMPTY)
    if upload.size > max_bytes:
        raise refuse(protocol.ErrorCode.FILE_TOO_LARGE, E_TOO_LARGE, mb=max_bytes // (1 << 20))
    name = clean_name(upload.name)
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    if head.startswith(_IMAGE_MAGIC) or head[8:12] == b"WEBP":
        if "image" not in allowed:
            raise refuse(protocol.ErrorCode.FILE_TYPE, E_TYPE)
        return _image(upload, name)
    category, content_type, ext = _sniff(upload, head)
    if category not in allowed:
        raise refuse(protocol.ErrorCode.FILE_TYPE, E_TYPE)
    return Processed(
        kind="file",
        category=category,
        content_type=content_type,
        name=_named(name, content_type, ext),
        data=None,
    )


def _sniff(upload, head: bytes) -> tuple[str, str, str]:
    for prefix, offset, category, content_type, ext in _MAGIC:
        if head[offset : offset + len(prefix)] == prefix:
            return category, content_type, ext
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(upload)
    if b"\x00" in head:
        return "other", "application/octet-stream", ".bin"
    upload.seek(0)
    text = upload.read(1 << 20)
    upload.seek(0)
    if _MARKUP.search(text):
        return "markup", "text/html", ".html"
    for encoding in ("utf-8", "gb18030"):
        try:
            text.decode(encoding)
        except UnicodeDecodeError:
            if encoding == "utf-8" and len(text) == 1 << 20:
                # Cut inside a character at the 1 MiB mark: decode what is whole.
                try:
                    text[:-4].decode("utf-8")
                    return "text", "text/plain", ".txt"
                except UnicodeDecodeError:
                    pass
            continue
        return "text", "text/plain", ".txt"
    return "other", "application/octet-stream", ".bin"


def _zip_kind(upload) -> tuple[str, str, str]:
    try:
        with zipfile.ZipFile(upload) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if mimetype in _ODF:
                    return "office", mimetype, _ODF[mimetype]
            if "[Content_Types].xml" in names:
                for folder, (content_type, ext) in _OOXML.items():
                    if any(n.startswith(folder) for n in names):
                        return "office", content_type, ext
    except (zipfile.BadZipFile, OSError, ValueError):
        return "other", "application/octet-stream", ".bin"
    finally:
        upload.seek(0)
    return "archive", "application/zip", ".zip"


def _image(upload, name: str) -> Processed:
    max_pixels = settings.ATTACHMENT_MAX_PIXELS
    try:
        upload.seek(0)
        image = Image.open(upload, formats=IMAGE_FORMATS)
        source_format = image.format
        if image.width * image.height > max_pixels:
            raise refuse(protocol.ErrorCode.FILE_TOO_LARGE, E_PIXELS, mp=max_pixels // 1_000_000)
        frames = getattr(image, "n_frames", 1)
        # An animation keeps its frames only while all of them together stay within the pixel
        # budget (each is decoded and encoded again); a longer one keeps its first frame.
        animated = (
            source_format in ("GIF", "WEBP")
            and 1 < frames <= MAX_FRAMES
            and image.width * image.height * frames <= max_pixels
        )
        image.load()  # decodes every byte: a truncated file fails here
        out_format, content_type, ext = IMAGE_OUTPUT[source_format]
        # Turned upright by its EXIF orientation once, since that tag is about to be dropped.
        upright = image if animated else ImageOps.exif_transpose(image)
        data = _encode(upright, out_format, animated)
        width, height = upright.size
        thumb_image = upright.copy()  # an animation's copy is its first frame
        thumb_image.thumbnail(THUMBNAIL_SIZE)
        thumbnail, thumbnail_type = _thumbnail(thumb_image)
    except KefuError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        # UnidentifiedImageError is an OSError: image magic with something else behind it.
        raise refuse(protocol.ErrorCode.FILE_DAMAGED, E_DAMAGED) from exc
    finally:
        upload.seek(0)
    return Processed(
        kind="image",
        category="image",
        content_type=content_type,
        name=_named(name, content_type, ext),
        data=data,
        thumbnail=thumbnail,
        thumbnail_type=thumbnail_type,
        width=width,
        height=height,
    )


def _encode(image: Image.Image, out_format: str, animated: bool) -> bytes:
    """New bytes from the decoded (and uprighted) pixels only: no EXIF, XMP, comments or
    trailing data."""
    buffer = io.BytesIO()
    if animated:
        # Each frame is re-encoded; the loop count and frame durations are the only metadata kept.
        image.save(
            buffer,
            out_format,
            save_all=True,
            loop=image.info.get("loop", 0),
            duration=image.info.get("duration", 100),
        )
        return buffer.getvalue()
    icc = image.info.get("icc_profile")
    upright = image.copy()
    upright.info = {}
    options = {"icc_profile": icc} if icc else {}
    if out_format == "JPEG":
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        upright.save(buffer, "JPEG", quality=88, optimize=True, **options)
    elif out_format == "GIF":
        upright.save(buffer, "GIF")
    elif out_format == "WEBP":
        upright.save(buffer, "WEBP", quality=88, **options)
    else:
        if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            upright = upright.convert("RGBA")
        upright.save(buffer, "PNG", optimize=True, **options)
    return buffer.getvalue()


def _thumbnail(image: Image.Image) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image.convert("RGBA").save(buffer, "PNG", optimize=True)
        return buffer.getvalue(), "image/png"
    image.convert("RGB").save(buffer, "JPEG", quality=82)
    return buffer.getvalue(), "image/jpeg"


# --- Storage ---------------------------------------------------------------------------------


class _AttachmentStorage(LazyObject):
    """The `attachments` storage of settings.STORAGES (the local folder or an S3 bucket),
    looked up when first used. FileField evaluates its storage once, when the model loads, so
    the field holds this proxy rather than the backend itself."""

    def _setup(self):
        self._wrapped = storages["attachments"]


attachment_files = _AttachmentStorage()


def attachment_storage():
    return attachment_files


@receiver(setting_changed)
def _storages_changed(*, setting, **kwargs):
    # Tests point STORAGES at a folder or bucket of their own (override_settings).
    if setting == "STORAGES":
        attachment_files._wrapped = empty


# --- Signed links ----------------------------------------------------------------------------


def signed_url(attachment, variant: str = "o") -> str:
    """A link to the original ("o") or the thumbnail ("t"), valid ATTACHMENT_URL_MAX_AGE
    seconds. Bound to the attachment and its merchant: a link cannot be turned into another
    file or another merchant's file without the SECRET_KEY."""
    token = signing.dumps(
        {"a": attachment.pk, "m": attachment.merchant_id, "v": variant}, salt=URL_SALT
    )
    name = attachment.name if variant == "o" else "thumbnail"
    return reverse("attachment-file", kwargs={"token": token, "name": name})


def signed_url_read(token: str) -> dict | None:
    """The claims of a link, or None if forged or too old."""
    try:
        claims = signing.loads(token, salt=URL_SALT, max_age=settings.ATTACHMENT_URL_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(claims, dict) or claims.get("v") not in ("o", "t"):
        return None
    return claims
