"""Attachments in an S3-compatible bucket (ATTACHMENT_STORAGE=s3, django-storages) against a
local S3 server that checks what S3 checks: moto in server mode with authentication on
(INITIAL_NO_AUTH_ACTION_COUNT), so every request is signed with SigV4 by a real IAM key and a
wrong secret is refused. Files go up, are served back through the signed link, and are deleted
with their rows; the environment variables pick the backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from django.conf import settings as django_settings

from conversations import realtime, services
from conversations.models import Attachment
from tests import factories
from tests.conftest import free_port, need, stop_processes
from tests.conversations.attachment_helpers import pdf, png, upload

pytestmark = pytest.mark.slow

try:
    import boto3
    import moto.server  # noqa: F401 - the server the fixture starts
except ImportError:  # a missing dev requirement: a NEEDS line, a failure on CI
    boto3 = None

BUCKET = "kefu-test-attachments"
REGION = "us-east-1"
# IAM calls made before authentication starts: create the user, its policy and its key.
UNSIGNED_SETUP_CALLS = 3


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """A moto S3 server process with signature checking; yields (endpoint, key id, secret)."""
    if boto3 is None:
        need("moto", "install requirements-dev.txt (moto[server]) for the S3 attachment tests")
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(UNSIGNED_SETUP_CALLS)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_processes([proc], timeout=2)
                pytest.fail("moto server did not start")
            time.sleep(0.2)
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="kefu")
        iam.put_user_policy(
            UserName="kefu",
            PolicyName="attachments",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="kefu")["AccessKey"]
        s3 = s3_client(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        stop_processes([proc], timeout=2)
        log.close()


def s3_client(endpoint, key_id, secret):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def use_bucket(settings, endpoint, key_id, secret):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": REGION,
                "access_key": key_id,
                "secret_key": secret,
                "addressing_style": "path",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }


def test_files_live_in_the_bucket_and_leave_with_their_rows(
    s3_server, settings, bob, conversation, client, django_capture_on_commit_callbacks
):
    endpoint, key_id, secret = s3_server
    use_bucket(settings, endpoint, key_id, secret)
    s3 = s3_client(endpoint, key_id, secret)
    before = set(keys(s3))

    image, _ = services.attachment_upload(
        merchant_id=bob.merchant_id,
        uploader_key=services.Sender.agent(bob).key,
        upload_id="s3-1",
        upload=upload(png(size=(900, 700)), "shot.png"),
        conversation_id=conversation.pk,
    )
    document, _ = services.attachment_upload(
        merchant_id=bob.merchant_id,
        uploader_key=services.Sender.agent(bob).key,
        upload_id="s3-2",
        upload=upload(pdf(), "报价单.pdf"),
        conversation_id=conversation.pk,
    )
    stored = set(keys(s3)) - before
    assert stored == {image.file.name, image.thumbnail.name, document.file.name}
    assert all(k.startswith(f"attachments/{bob.merchant_id}/") for k in stored)

    message = factories.agent_message(bob, conversation.pk, "", attachment_id=document.pk)
    link = realtime.message_out(message).attachment.url
    response = client.get(link)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf()
    assert response["Content-Disposition"].startswith("attachment;")

    with django_capture_on_commit_callbacks(execute=True):
        conversation.delete()
    assert set(keys(s3)) == before
    assert not Attachment.objects.exists()


def test_a_wrong_secret_is_refused_and_nothing_is_stored(s3_server, settings, bob, conversation):
    from botocore.exceptions import ClientError

    endpoint, key_id, secret = s3_server
    use_bucket(settings, endpoint, key_id, "not-" + secret)

    with pytest.raises(ClientError) as refused:
        services.attachment_upload(
            merchant_id=bob.merchant_id,
            uploader_key=services.Sender.agent(bob).key,
            upload_id="bad-key",
            upload=upload(png(), "a.png"),
            conversation_id=conversation.pk,
        )

    # The storage's first call is a HEAD (is the random key free?), whose 403 has no body.
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not Attachment.objects.exists()
    # The same wrong secret on a request with a body: the server says why.
    with pytest.raises(ClientError) as direct:
        s3_client(endpoint, key_id, "not-" + secret).put_object(Bucket=BUCKET, Key="x", Body=b"x")
    assert direct.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "x" not in keys(s3_client(endpoint, key_id, secret))


def test_environment_variables_select_the_bucket(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kefu.settings",
        "KEFU_VAR_DIR": str(tmp_path),
        "ATTACHMENT_STORAGE": "s3",
        "ATTACHMENT_S3_BUCKET": "shop-files",
        "ATTACHMENT_S3_ENDPOINT_URL": "https://oss-cn-hangzhou.aliyuncs.com",
        "ATTACHMENT_S3_REGION": "cn-hangzhou",
        "ATTACHMENT_S3_ACCESS_KEY_ID": "AK",
        "ATTACHMENT_S3_SECRET_ACCESS_KEY": "SK",
        "ATTACHMENT_S3_ADDRESSING_STYLE": "virtual",
    }
    code = (
        "import django, json; django.setup();"
        "from conversations.attachments import attachment_storage; st = attachment_storage();"
        "print(json.dumps([st.__class__.__name__, st.bucket_name, st.endpoint_url,"
        " st.region_name, st.access_key, st.secret_key, st.addressing_style, st.default_acl]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(django_settings.BASE_DIR),
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        "S3Storage",
        "shop-files",
        "https://oss-cn-hangzhou.aliyuncs.com",
        "cn-hangzhou",
        "AK",
        "SK",
        "virtual",
        None,
    ]
