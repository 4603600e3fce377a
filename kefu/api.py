"""API plumbing shared by every app: errors from services become HTTP errors with field
errors, never a 500."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import KefuError


# Refusals that are not about the input: not allowed (403), or lost to someone else (409).
STATUS_BY_CODE = {
    "forbidden": status.HTTP_403_FORBIDDEN,
    "already_assigned": status.HTTP_409_CONFLICT,
}


def exception_handler(exc, context):
    if isinstance(exc, KefuError):
        if exc.status == 404:
            return Response({"detail": exc.message, "code": exc.code}, status=404)
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body[exc.field] = [exc.message]
        return Response(body, status=STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST))
    return drf_exception_handler(exc, context)
