"""The served widget script: the shared socket core and the widget's code, one classic script
(widget/script.py). That it works in a browser is proven by tests/e2e (test_embed, test_chat)."""

import re
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import require_node
from widget import script

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "conversations/static/realtime/socket.js"
PARTS = [ROOT / "widget/static" / name for name in script.PARTS]
EXPORT = "export { createSocket, SeqMap, insertOrdered, backoff, MAX_BACKOFF_MS };"


def served(client, **headers):
    response = client.get("/widget/loader.js", **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body.decode()


def test_core_ends_with_its_one_export_line():
    lines = CORE.read_text().rstrip().splitlines()
    assert lines[-1] == EXPORT
    assert sum(line.startswith(("export ", "import ")) for line in lines) == 1
    # The workspace imports these names; the widget uses them from the enclosing scope.
    widget = "".join(part.read_text() for part in PARTS)
    assert "createSocket(" in widget and "SeqMap()" in widget


def test_served_loader_holds_the_core_once_and_no_module_syntax(client):
    response, body = served(client)
    assert response.status_code == 200
    core = CORE.read_text().replace(EXPORT + "\n", "")
    assert body.count(core) == 1
    for part in PARTS:
        assert body.count(part.read_text()) == 1, part
    # In the order of script.PARTS, each after the comment that names it.
    at = [body.index(f"// {name}\n{part.read_text()}") for name, part in zip(script.PARTS, PARTS)]
    assert at == sorted(at)
    # Once: the core's opening comment and factory are nowhere else (not copied into loader.js).
    assert body.count("function createSocket(") == 1
    assert body.count("The socket core of both clients") == 1
    # A classic script: no import/export statement, and no global but what the widget sets.
    assert not re.search(r"^\s*(export|import)\b", body, re.M)
    assert body.startswith('(() => {\n"use strict";') and body.rstrip().endswith("})();")


def test_served_loader_parses_as_a_classic_script(client, tmp_path):
    require_node()
    _, body = served(client)
    path = tmp_path / "loader.js"  # .js without a package.json: node checks it as a script
    path.write_text(body)
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("part", script.PARTS)
def test_each_widget_part_parses_alone_inside_a_function(tmp_path, part):
    """A part is a run of whole statements (its braces balanced), so a slip shows in its own
    file rather than as a syntax error somewhere in the served script."""
    require_node()
    path = tmp_path / "part.js"
    path.write_text("(() => {\n" + (ROOT / "widget/static" / part).read_text() + "})();\n")
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_served_loader_is_revalidated_by_etag(client):
    response, _ = served(client)
    etag = response["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    assert "max-age=300" in response["Cache-Control"] and "public" in response["Cache-Control"]
    again = client.get("/widget/loader.js", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    stale = client.get("/widget/loader.js", HTTP_IF_NONE_MATCH='"0000"')
    assert stale.status_code == 200


def test_etag_follows_the_sources(tmp_path, monkeypatch):
    core = tmp_path / "socket.js"
    widget = tmp_path / "loader.js"
    core.write_text("function createSocket() {}\nexport { createSocket };\n")
    widget.write_text("(() => { createSocket(); })();\n")
    files = {name: str(widget) for name in script.PARTS} | {script.CORE: str(core)}
    last = tmp_path / "start.js"
    last.write_text("const started = 1;\n")
    files[script.PARTS[-1]] = str(last)
    monkeypatch.setattr(script.finders, "find", files.get)
    first = script.widget_script()
    assert b"export" not in first.body
    widget.write_text("(() => { createSocket(1); })();\n")
    second = script.widget_script()
    assert second.etag != first.etag and b"createSocket(1)" in second.body
    last.write_text("const started = 2;\n")  # any part, not only the first
    third = script.widget_script()
    assert third.etag != second.etag and b"started = 2" in third.body


@pytest.mark.parametrize(
    "core",
    [
        "function createSocket() {}\n",  # no export line: nothing to strip
        "export { a };\nfunction createSocket() {}\nexport { createSocket };\n",  # two
        "export { createSocket };\nfunction createSocket() {}\n",  # not the last statement
    ],
)
def test_core_without_exactly_one_final_export_is_refused(tmp_path, monkeypatch, core):
    (tmp_path / "socket.js").write_text(core)
    (tmp_path / "loader.js").write_text("(() => {})();\n")
    files = {name: str(tmp_path / "loader.js") for name in script.PARTS}
    files[script.CORE] = str(tmp_path / "socket.js")
    monkeypatch.setattr(script.finders, "find", files.get)
    with pytest.raises(ImproperlyConfigured):
        script.widget_script()
