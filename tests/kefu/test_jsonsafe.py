"""kefu/jsonsafe.py: the depth limit holds at its edge whether or not the decoded value is
walked (the walk is skipped for texts with few brackets)."""

from __future__ import annotations

import pytest

from kefu import jsonsafe


def nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "[1]" + "}" * (depth - 1)


@pytest.mark.parametrize("kind", [str, bytes])
def test_the_limit_holds_at_its_edge(kind):
    def encode(text):
        return text.encode() if kind is bytes else text

    assert jsonsafe.loads(encode(nested(4)), max_depth=4) is not None
    with pytest.raises(jsonsafe.JSONError):
        jsonsafe.loads(encode(nested(5)), max_depth=4)


def test_brackets_inside_strings_are_not_nesting():
    text = '{"body": "' + "[{" * 40 + '", "list": [[1]]}'
    assert jsonsafe.loads(text, max_depth=4)["list"] == [[1]]
    with pytest.raises(jsonsafe.JSONError):
        jsonsafe.loads('{"body": "' + "[{" * 40 + '", "list": [[[[1]]]]}', max_depth=4)
