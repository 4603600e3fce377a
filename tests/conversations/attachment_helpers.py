"""Files for the attachment tests: images with EXIF, damaged and disguised files, and a storage
folder of the test's own (autouse in the modules that import `attachment_storage`)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

# An HTML page that names itself a PNG: what a stored-XSS attempt through an upload looks like.
POLYGLOT_HTML = (
    b"<!DOCTYPE html><html><body><script>parent.alert(document.cookie)</script></body></html>"
)
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'
)


@pytest.fixture(autouse=True)
def attachment_storage(settings, tmp_path):
    """Every test writes its files into its own folder, and can list what is left there."""
    root = tmp_path / "attachments"
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def stored_files() -> list[str]:
    """What is left in the test's attachment folder."""
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.STORAGES["attachments"]["OPTIONS"]["location"])
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def jpeg_with_exif(size=(1200, 900), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(0, size[0], 50):  # some detail, so the encoder has work to do
        image.paste((20, 20, 200), (x, 0, x + 10, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (39.0, 54.0, 0.0), 1: "N"}  # GPSInfo
    if orientation:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=90)
    return buffer.getvalue()


def png(size=(64, 48), mode="RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (0, 128, 0, 128) if mode == "RGBA" else (0, 128, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(data: bytes, name: str, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)
