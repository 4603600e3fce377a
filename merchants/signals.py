"""Signals merchants sends to the apps above it (which merchants must not import).

`capacity_freed(sender=Membership, merchant_id=int)`: an agent of `merchant_id` can now take
conversations they could not before (more capacity, back from away, reactivated, other teams).
Sent explicitly by merchants.services after the change commits, never from a model save; the
conversations app connects its queue drain to it in ConversationsConfig.ready.

`access_revoked(sender=Membership, merchant_id=int, user_id=int)`: the user may no longer work
for `merchant_id` (membership deactivated or deleted, user deactivated). Sent by
merchants.services after the commit; the conversations app closes that agent's open sockets on
every server process (docs/security.md, finding 2).
"""

from django.dispatch import Signal

capacity_freed = Signal()
access_revoked = Signal()
