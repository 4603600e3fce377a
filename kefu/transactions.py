"""One helper for work that must run after a commit and must never break it."""

from django.db import transaction


def on_commit_robust(fn, /, *args, **kwargs) -> None:
    """Run fn(*args, **kwargs) after the commit; a failure is logged, never undoes or breaks
    what was committed. A closure, not functools.partial: Django logs a failing robust callback
    by its `__qualname__`, which a partial lacks, so the logging itself would raise."""

    def callback():
        fn(*args, **kwargs)

    callback.__qualname__ = getattr(fn, "__qualname__", "callback")
    transaction.on_commit(callback, robust=True)
