"""The order pytest-xdist hands files out in (tests/conftest.py, heaviest_files_first): the
wait-bound files first as one unit, then the costliest first, and the files of a folder that
shares package-scoped processes in a row."""

from __future__ import annotations

import pytest

from tests.conftest import (
    ROOT,
    SHARED_PROCESS_FOLDERS,
    WAIT_BOUND,
    WAIT_BOUND_FILES,
    heaviest_files_first,
    work_unit,
)


class Item:
    """What the ordering reads of a collected test: its node id and its markers."""

    def __init__(self, nodeid: str, *, slow: bool = False, cost: float | None = None):
        self.nodeid = nodeid
        self.markers = {}
        if slow:
            self.markers["slow"] = pytest.mark.slow.mark
        if cost is not None:
            self.markers["cost"] = pytest.mark.cost(cost).mark

    def get_closest_marker(self, name):
        return self.markers.get(name)


def files(items) -> list[str]:
    seen: list[str] = []
    for item in items:
        name = item.nodeid.split("::")[0]
        if not seen or seen[-1] != name:
            seen.append(name)
    return seen


def test_the_browser_folder_runs_in_a_row_ranked_by_its_whole_cost():
    assert "tests/e2e/" in SHARED_PROCESS_FOLDERS
    items = [
        Item("tests/api/test_a.py::one", cost=20),
        Item("tests/e2e/test_small.py::one", slow=True),
        Item("tests/kefu/test_b.py::one"),
        Item("tests/kefu/test_b.py::two"),
        Item("tests/e2e/test_big.py::one", slow=True),
        Item("tests/e2e/test_big.py::two", slow=True),
        Item("tests/realtime/test_c.py::one", cost=10),
        Item("tests/e2e/test_big.py::three", slow=True),
    ]
    heaviest_files_first(items)
    # e2e: 4 slow tests, 24 s guessed in all, more than any single file, though each of its
    # files alone (18 s, 6 s) weighs less than test_a.py (20 s): the block goes first whole.
    assert files(items) == [
        "tests/e2e/test_big.py",
        "tests/e2e/test_small.py",
        "tests/api/test_a.py",
        "tests/realtime/test_c.py",
        "tests/kefu/test_b.py",
    ]
    # A file's tests keep their order.
    assert [i.nodeid for i in items if "test_big" in i.nodeid] == [
        "tests/e2e/test_big.py::one",
        "tests/e2e/test_big.py::two",
        "tests/e2e/test_big.py::three",
    ]


def test_a_heavier_file_outside_the_block_still_goes_before_it():
    items = [
        Item("tests/e2e/test_x.py::one", slow=True),
        Item("tests/kefu/test_fuzz.py::one", cost=100),
        Item("tests/e2e/test_y.py::one", slow=True),
    ]
    heaviest_files_first(items)
    assert files(items) == ["tests/kefu/test_fuzz.py", "tests/e2e/test_x.py", "tests/e2e/test_y.py"]


def test_the_wait_bound_files_go_first_and_are_one_unit_of_work():
    waits = sorted(WAIT_BOUND_FILES)
    assert len(waits) >= 2
    for name in waits:
        assert (ROOT / name).is_file(), name  # a renamed file would silently leave the unit
    items = [
        Item("tests/e2e/test_x.py::one", slow=True),
        Item(f"{waits[0]}::one"),
        Item("tests/kefu/test_fuzz.py::one", cost=100),
        Item(f"{waits[1]}::one"),
        Item(f"{waits[0]}::two"),
    ]
    heaviest_files_first(items)
    # Lighter than the fuzz file and the browser tests, and still first, in a row.
    assert [i.nodeid for i in items] == [
        f"{waits[0]}::one",
        f"{waits[0]}::two",
        f"{waits[1]}::one",
        "tests/kefu/test_fuzz.py::one",
        "tests/e2e/test_x.py::one",
    ]
    assert {work_unit(i.nodeid) for i in items[:3]} == {WAIT_BOUND}
    assert work_unit("tests/kefu/test_fuzz.py::one") == "tests/kefu/test_fuzz.py"
    assert work_unit("tests/e2e/test_x.py::Case::one") == "tests/e2e/test_x.py"
