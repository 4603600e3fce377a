"""bench/routing.py runs end to end (tiny sizes) and leaves nothing behind."""

import subprocess
import sys

import pytest

from conversations.models import Conversation
from merchants.models import Merchant
from tests.conftest import ROOT, child_env


@pytest.mark.slow  # runs bench/routing.py in a child process
@pytest.mark.django_db(transaction=True)
def test_routing_benchmark_runs_and_cleans_up(tmp_path):
    out = tmp_path / "performance.md"
    out.write_text("# Performance\n\n## Other\n\nkept\n")
    result = subprocess.run(
        [
            sys.executable,
            "bench/routing.py",
            "--merchants",
            "2",
            "--agents",
            "2",
            "--queued",
            "20",
            "--capacity",
            "2",
            "--arrivals",
            "3",
            "--resolves",
            "3",
            "--write",
            str(out),
        ],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert "## Other\n\nkept" in text and text.count("## Routing") == 1
    for phase, decisions in (("drain", 8), ("arrive", 3), ("resolve", 3)):
        row = next(line for line in text.splitlines() if line.startswith(f"| {phase}"))
        assert row.split("|")[2].strip() == str(decisions), row
    assert not Merchant.objects.filter(name__startswith="bench-routing-").exists()
    assert not Conversation.objects.exists()
