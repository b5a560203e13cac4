"""Every lesson runs top to bottom, and every checker cell in it passes.

A lesson is read with jupytext and executed with nbclient in `lessons/` (so relative paths resolve
as in the book), with the environment of the test session: conftest sets `MINIENC_FAST=1`, so the
lessons use tiny data and few steps. A failing cell fails the test with that cell's source and
traceback. Lessons are the solution notebooks: each checker cell must print
"Exercise N.k passed"; tests/test_exercises.py shows that the same cells fail on the student copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
LESSONS_DIR = REPO / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("*.md"))
TIMEOUT_S = 300  # per cell

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CHECKER_ID = re.compile(r"^\s*#.*?\bExercise (\d+\.\d+)\b", re.MULTILINE)


def execute(
    path: Path,
    *,
    allow_errors: bool = False,
    cwd: Path = LESSONS_DIR,
    stop_after_last_checker: bool = False,
) -> nbformat.NotebookNode:
    """Read a jupytext lesson and execute it in `cwd`; return the executed notebook.

    With `stop_after_last_checker`, the cells after the last checker cell are dropped first.
    """
    nb = jupytext.read(path)
    if stop_after_last_checker:
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        last = max((i for i, t in enumerate(tags) if "checker" in t), default=len(nb.cells) - 1)
        nb.cells = nb.cells[: last + 1]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=TIMEOUT_S,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb


def checker_cells(nb: nbformat.NotebookNode) -> Iterator[tuple[str, nbformat.NotebookNode]]:
    """Yield `(exercise id, cell)` for every code cell tagged `checker`."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "checker" in cell.metadata.get("tags", []):
            found = _CHECKER_ID.search(cell.source)
            if found is None:
                raise ValueError(
                    f"checker cell without an '# ... Exercise N.k' comment:\n{cell.source}"
                )
            yield found[1], cell


def stdout_text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_runs(path: Path):
    try:
        nb = execute(path)
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised\n{_ANSI.sub('', str(err))}", pytrace=False)
    for exercise_id, cell in checker_cells(nb):
        assert f"Exercise {exercise_id} passed" in stdout_text(cell), (
            f"{path.name}: the checker for Exercise {exercise_id} did not report a pass:\n"
            f"{cell.source}\n--- output ---\n{stdout_text(cell)}"
        )


def test_there_are_lessons():
    assert LESSONS, f"no lessons found in {LESSONS_DIR}"
