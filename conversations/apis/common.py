"""What every API view of this package does with a request: validate its query or body with a
serializer, and say who acts on quick replies, labels and attribute definitions."""

from __future__ import annotations

from .. import services


def validated_query(serializer_class, request) -> dict:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


def canned_actor(request) -> services.CannedActor:
    membership = request.kefu_membership  # None for a token: it acts for the whole merchant
    if membership is None:
        return services.CannedActor(user_id=None, is_manager=True)
    return services.CannedActor(user_id=membership.user_id, is_manager=membership.is_manager)


def validated_body(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data
