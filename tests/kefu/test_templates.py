"""Django's `{# ... #}` comment ends at the end of its line: one written over two lines is shown
to the user as text (the workspace showed half a sentence of a comment above the labels)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def templates() -> list[Path]:
    return [
        p
        for p in ROOT.rglob("templates/**/*.html")
        if not {".venv", "var", "node_modules"} & set(p.relative_to(ROOT).parts)
    ]


def test_every_one_line_comment_is_closed_on_its_line():
    found = templates()
    assert any(p.name == "workspace.html" for p in found), "the project's templates are found"
    open_comments = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in found
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert not open_comments, open_comments
