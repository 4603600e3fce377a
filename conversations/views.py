"""The agent workspace page. Data comes from the REST API (session auth) and the agent socket."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from merchants.selectors import membership_get, membership_list_for_user


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
    return render(request, "conversations/workspace.html", {"membership": membership})
