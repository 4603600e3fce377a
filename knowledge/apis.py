"""REST API of the knowledge base under /api/v1/kb/: CRUD for FAQ entries, intents, categories,
synonyms and dictionary words, bulk import/export, and the knowledge-gap report.

Same authentication as the rest of /api/v1/ (merchants.permissions.request_merchant_id). Reads
are open to every member (agents look answers up); writes need an API token or an owner/admin
session, as in the admin. Views are thin: selectors read, services write and validate.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, permissions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from kefu.pagination import KeysetPagination
from kefu.parsers import JSONParser
from merchants.models import Membership
from merchants.permissions import request_merchant_id

from . import formats, importers, selectors, services
from .models import ImportJob
from .serializers import (
    CategorySerializer,
    DictionaryWordSerializer,
    ExportQuerySerializer,
    FaqFilterSerializer,
    FaqSerializer,
    GapGroupSerializer,
    ImportJobSerializer,
    ImportRequestSerializer,
    ImportResultSerializer,
    IntentSerializer,
    SynonymSerializer,
)

WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.ADMIN)
GAP_GROUPS_LISTED = 200


class CanEditKb(permissions.BasePermission):
    message = _("Only owners and admins can change the knowledge base.")

    def has_permission(self, request, view):
        request_merchant_id(request)  # 401/403 first, as everywhere
        if request.method in permissions.SAFE_METHODS:
            return True
        membership = getattr(request, "kefu_membership", None)
        return membership is None or membership.role in WRITE_ROLES  # None: an API token


class ByIdPagination(KeysetPagination):
    ordering = ("id",)


class _KbView(generics.GenericAPIView):
    permission_classes = [CanEditKb]
    parser_classes = [JSONParser]
    pagination_class = ByIdPagination
    # Set per resource.
    list_selector = None
    create_service = None
    update_service = None
    delete_service = None
    id_kwarg = ""
    # API field -> service argument, where they differ.
    renames: dict[str, str] = {}

    def merchant_id(self) -> int:
        return request_merchant_id(self.request)

    def get_queryset(self):
        return type(self).list_selector(merchant_id=self.merchant_id())

    def service_args(self, validated: dict) -> dict:
        args = {self.renames.get(k, k): v for k, v in validated.items()}
        if "slots" in args:
            args["slots"] = [dict(s) for s in args["slots"]]
        return args


class KbList(_KbView, generics.ListAPIView):
    def post(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = type(self).create_service(
            merchant_id=self.merchant_id(), **self.service_args(data.validated_data)
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=row.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class KbDetail(_KbView):
    def get_object(self):
        return selectors.row_get(self.get_queryset(), self.kwargs["pk"])

    def get(self, request, pk: int):
        return Response(self.get_serializer(self.get_object()).data)

    def patch(self, request, pk: int):
        self.get_object()  # 404 before 400 for another merchant's row
        data = self.get_serializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        type(self).update_service(
            merchant_id=self.merchant_id(),
            **{self.id_kwarg: pk},
            **self.service_args(data.validated_data),
        )
        return Response(self.get_serializer(self.get_object()).data)

    def delete(self, request, pk: int):
        type(self).delete_service(merchant_id=self.merchant_id(), **{self.id_kwarg: pk})
        return Response(status=status.HTTP_204_NO_CONTENT)


def _resource(
    name: str, tag: str, serializer, selector, create, update, delete, id_kwarg, renames=None
):
    """A list (GET, POST) and a detail (GET, PATCH, DELETE) view for one KB model."""
    attrs = {
        "serializer_class": serializer,
        "list_selector": staticmethod(selector),
        "create_service": staticmethod(create),
        "update_service": staticmethod(update),
        "delete_service": staticmethod(delete),
        "id_kwarg": id_kwarg,
        "renames": renames or {},
    }
    list_view = extend_schema(tags=[tag])(type(f"{name}List", (KbList,), dict(attrs)))
    # KbList.post answers 201 with the new row; drf-spectacular would document a 200.
    list_view = extend_schema_view(post=extend_schema(responses={201: serializer}))(list_view)
    detail_view = extend_schema(tags=[tag])(type(f"{name}Detail", (KbDetail,), dict(attrs)))
    return list_view, detail_view


_FaqList, FaqDetail = _resource(
    "Faq",
    "knowledge base",
    FaqSerializer,
    selectors.faq_list,
    services.faq_create,
    services.faq_update,
    services.faq_delete,
    "faq_id",
)


@extend_schema(tags=["knowledge base"], parameters=[FaqFilterSerializer])
class FaqList(_FaqList):
    """FAQ entries by id, optionally filtered."""

    def get_queryset(self):
        if self.request.method != "GET":
            return super().get_queryset()
        params = FaqFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return selectors.faq_list(merchant_id=self.merchant_id(), **params.validated_data)


IntentList, IntentDetail = _resource(
    "Intent",
    "knowledge base",
    IntentSerializer,
    selectors.intent_list,
    services.intent_create,
    services.intent_update,
    services.intent_delete,
    "intent_id",
)
CategoryList, CategoryDetail = _resource(
    "Category",
    "knowledge base",
    CategorySerializer,
    selectors.category_list,
    services.category_create,
    services.category_update,
    services.category_delete,
    "category_id",
)
SynonymList, SynonymDetail = _resource(
    "Synonym",
    "knowledge base",
    SynonymSerializer,
    selectors.synonym_list,
    services.synonym_create,
    services.synonym_update,
    services.synonym_delete,
    "synonym_id",
)
DictionaryList, DictionaryDetail = _resource(
    "DictionaryWord",
    "knowledge base",
    DictionaryWordSerializer,
    selectors.dictionary_list,
    services.dictionary_word_create,
    services.dictionary_word_update,
    services.dictionary_word_delete,
    "word_id",
)


@extend_schema(
    tags=["knowledge base"],
    request={"multipart/form-data": ImportRequestSerializer},
    responses={
        200: OpenApiResponse(ImportResultSerializer, "Imported: counts."),
        202: OpenApiResponse(
            ImportJobSerializer,
            "A large file: imported by the worker; poll /api/v1/kb/import/{id}/.",
        ),
        # Either body (found by schemathesis): per-row errors of a file that was read, or the
        # field errors of a request without a usable file, kind or format.
        400: OpenApiResponse(
            {
                "anyOf": [
                    {"$ref": "#/components/schemas/ImportResult"},
                    {"$ref": "#/components/schemas/Error"},
                ]
            },
            "Per-row errors (nothing was imported), or field errors of the request.",
        ),
    },
)
class ImportView(generics.GenericAPIView):
    """Import a CSV, JSON or XLSX file (all rows, or none if any row is wrong)."""

    permission_classes = [CanEditKb]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImportRequestSerializer

    def post(self, request):
        merchant_id = request_merchant_id(request)
        params = ImportRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        args = params.validated_data
        merchant = selectors.merchant_for_kb(merchant_id=merchant_id)
        outcome = importers.kb_import_submit(
            merchant=merchant,
            kind=args["kind"],
            fmt=args["format"],
            file=args["file"],
            mode=args["mode"],
            filename=args["file"].name,
        )
        if isinstance(outcome, ImportJob):
            return Response(ImportJobSerializer(outcome).data, status=status.HTTP_202_ACCEPTED)
        return Response(
            outcome.as_dict(),
            status=status.HTTP_200_OK if outcome.ok else status.HTTP_400_BAD_REQUEST,
        )


@extend_schema(tags=["knowledge base"], responses=ImportJobSerializer)
class ImportJobView(generics.GenericAPIView):
    """Progress and result of a large import."""

    serializer_class = ImportJobSerializer

    def get(self, request, pk: int):
        job = selectors.import_job_get(merchant_id=request_merchant_id(request), job_id=pk)
        return Response(ImportJobSerializer(job).data)


EXPORT_DESCRIPTION = "The file (CSV with a UTF-8 BOM, JSON or XLSX), importable as it is."


class IgnoreFormatParameter(DefaultContentNegotiation):
    """`?format=` here names the file format; DRF would read it as its renderer override and
    answer 404 for csv/xlsx. The file is written by the view; errors are JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(
    tags=["knowledge base"],
    parameters=[ExportQuerySerializer],
    # One entry per `format` (schemathesis checks each body against its content type's schema;
    # a JSON export is a list of rows, not a binary string).
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, EXPORT_DESCRIPTION),
        (200, "application/json"): OpenApiResponse(
            {"type": "array", "items": {"type": "object"}}, EXPORT_DESCRIPTION
        ),
        (200, formats.CONTENT_TYPES["xlsx"]): OpenApiResponse(
            OpenApiTypes.BINARY, EXPORT_DESCRIPTION
        ),
    },
)
class ExportView(generics.GenericAPIView):
    """Download one part of the knowledge base in the import format."""

    serializer_class = None
    content_negotiation_class = IgnoreFormatParameter

    def get(self, request):
        merchant_id = request_merchant_id(request)
        params = ExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filename, content_type, body = importers.export(
            merchant=selectors.merchant_for_kb(merchant_id=merchant_id),
            kind=params.validated_data["kind"],
            fmt=params.validated_data["format"],
        )
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@extend_schema(tags=["knowledge base"], responses=GapGroupSerializer(many=True))
class GapList(generics.GenericAPIView):
    """Questions the bot could not answer, grouped by similarity, biggest group first (the
    200 biggest)."""

    serializer_class = GapGroupSerializer
    pagination_class = None

    def get(self, request):
        groups = selectors.gap_groups(merchant_id=request_merchant_id(request))
        return Response(GapGroupSerializer(groups[:GAP_GROUPS_LISTED], many=True).data)
