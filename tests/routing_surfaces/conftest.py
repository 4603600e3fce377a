import pytest


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Several users per test; PBKDF2 would be most of the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def online():
    """online(membership): give the agent a live socket in conversations.presence (memory or
    Redis, whichever the settings use), removed again after the test."""
    from asgiref.sync import async_to_sync

    from conversations import presence

    up = []

    def bring(membership, socket="test-socket"):
        async_to_sync(presence.agent_socket_up)(membership.merchant_id, membership.user_id, socket)
        up.append((membership.merchant_id, membership.user_id, socket))
        return membership

    yield bring
    for merchant_id, user_id, socket in up:
        async_to_sync(presence.agent_socket_down)(merchant_id, user_id, socket)
