"""The agent workspace page (its data comes from the REST API with the session, and the agent
socket), and the signed links that serve attachment files."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from merchants.selectors import membership_get, membership_list_for_user

from . import attachments, selectors


@login_required
def workspace_index(request):
    memberships = list(membership_list_for_user(user=request.user))
    if len(memberships) == 1:
        return redirect("workspace:workspace", merchant_id=memberships[0].merchant_id)
    return render(request, "conversations/workspace_index.html", {"memberships": memberships})


@login_required
def workspace(request, merchant_id: int):
    membership = membership_get(merchant_id=merchant_id, user=request.user)
    if membership is None:
        raise Http404
    # The label views are in the page from the start: drawn only when session.ready brought the
    # labels, they pushed the rows down under an agent's first click (views.js renderLabelViews).
    labels = selectors.label_list(merchant_id=merchant_id)
    return render(
        request, "conversations/workspace.html", {"membership": membership, "labels": labels}
    )


# --- Attachment files -----------------------------------------------------------------------------

# On every file response: the browser must not guess another type than the one we send
# (nosniff), and even if something were rendered it runs no script, loads nothing and is
# sandboxed in an opaque origin (CSP). No referrer leaks the signed link onwards.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    "Referrer-Policy": "no-referrer",
}
INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


@require_GET
def attachment_file(request, token: str, name: str):
    """GET /files/<signed token>/<name>[?download=1]: an attachment's file or thumbnail. The token alone
    authorises (conversations.attachments.signed_url): it names the attachment and its merchant,
    and the row must still be that merchant's. Only images we re-encoded are shown inline;
    everything else downloads under the type read from its content."""
    claims = attachments.signed_url_read(token)
    if claims is None:
        raise Http404
    attachment = selectors.attachment_get(merchant_id=claims["m"], attachment_id=claims["a"])
    if attachment is None:
        raise Http404
    thumbnail = claims["v"] == "t"
    field = attachment.thumbnail if thumbnail else attachment.file
    if not field:
        raise Http404
    try:
        handle = field.storage.open(field.name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    inline = thumbnail or (attachment.kind == "image" and attachment.content_type in INLINE_TYPES)
    # ?download=1: an image saved rather than shown (the viewer's Download link).
    inline = inline and request.GET.get("download") != "1"
    if thumbnail:
        content_type = "image/png" if field.name.endswith(".png") else "image/jpeg"
    else:
        content_type = attachment.content_type if inline else "application/octet-stream"
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not inline,
        filename=attachment.name if not thumbnail else "thumbnail",
    )
    for header, value in FILE_HEADERS.items():
        response[header] = value
    # The link is a capability of limited life: private caches only, and not past its expiry.
    response["Cache-Control"] = "private, max-age=3600"
    return response
