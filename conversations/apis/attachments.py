"""Uploading an attachment into a conversation (docs/attachments.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from merchants.models import Merchant
from merchants.permissions import request_merchant_id

from .. import attachments, services
from ..serializers import AttachmentSerializer, AttachmentUploadSerializer


class AttachmentUpload(generics.GenericAPIView):
    """Upload an image or file into a conversation, then send it: POST .../messages/ with
    `attachment_id`. Images are re-encoded (EXIF removed) and get a thumbnail."""

    parser_classes = [MultiPartParser]
    serializer_class = AttachmentUploadSerializer

    @extend_schema(
        tags=["messages"],
        summary="Upload an attachment",
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={
            201: AttachmentSerializer,
            200: OpenApiResponse(
                AttachmentSerializer,
                "The `upload_id` was used before with the same file: the stored upload.",
            ),
            400: OpenApiResponse(
                description="Field errors, or `code`: file_empty, file_too_large, file_type, "
                "file_damaged, upload_id_conflict."
            ),
        },
    )
    def post(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        attachments.refuse_declared_size(
            request, attachments.max_bytes_for(Merchant.objects.get(pk=merchant_id))
        )
        data = AttachmentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if request.kefu_membership is not None:
            sender = services.Sender.agent(request.kefu_membership)
        else:
            sender = services.Sender.api_token(request.auth)
        attachment, created = services.attachment_upload(
            merchant_id=merchant_id,
            uploader_key=sender.key,
            upload_id=params["upload_id"],
            upload=params["file"],
            conversation_id=pk,
        )
        return Response(
            AttachmentSerializer(attachment).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
