"""Exercises in lesson notebooks: solution markers, student notebooks, and checker messages.

A lesson (`lessons/NN_name.md`, a jupytext MyST notebook) holds its own solutions. Inside a code
cell, a solution sits between two marker lines:

    def linear_backward(dy, cache):
        ### BEGIN SOLUTION Exercise 2.1: the gradients of y = x @ W.T + b
        x, weight = cache
        ...
        return dx, grads
        ### END SOLUTION

The BEGIN line must name the exercise as `Exercise N.k:` followed by what the learner should write;
ids are unique within a lesson. Markers count only inside code cells (```` ```{code-cell} ````), so
prose may show them in an ordinary code block; inside a code cell, a line that looks like a marker
but is not exactly one is an error, as are unmatched markers and duplicate ids.

`make-student` writes a copy of every lesson in which each marked block, markers included, becomes
one line at the BEGIN line's indentation:

        raise NotImplementedError("Exercise 2.1: the gradients of y = x @ W.T + b")

After each exercise comes a checker cell, tagged `checker`, whose first comment names the exercise
(`# Checker for Exercise 2.1`). It calls `check_exercise` (or `check_gradients`), so every checker
reads the same: `Exercise 2.1 passed: ...`, or an AssertionError `Exercise 2.1 failed: ...` naming
the worst tensor. On a student notebook the checker fails until the exercise is done.

Command line (pure text processing, no notebook libraries needed):

    python -m minienc.exercises make-student lessons/ student/ [--force]
    python -m minienc.exercises list lessons/
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Exercise",
    "MarkerError",
    "find_exercises",
    "to_student",
    "make_student",
    "check_exercise",
    "check_gradients",
    "main",
]

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\b(?P<rest>.*)$")
_END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
_TITLE = re.compile(r"^\s+Exercise (?P<id>\d+\.\d+):\s*(?P<what>\S.*?)\s*$")
_LOOSE = re.compile(r"#\s*(BEGIN|END)\s*SOLUTION", re.IGNORECASE)  # anything that looks like one
_CELL_OPEN = re.compile(r"^(?P<fence>`{3,})\{code-cell\}")
_FENCE_CLOSE = re.compile(r"^(?P<fence>`{3,})\s*$")


class MarkerError(ValueError):
    """A malformed solution marker; the message names the file and line."""


@dataclass(frozen=True)
class Exercise:
    """One marked solution block: its id ("2.1"), task text, and 1-based lines of its markers."""

    id: str
    what: str
    begin: int
    end: int
    indent: str

    @property
    def message(self) -> str:
        return f"Exercise {self.id}: {self.what}"


def find_exercises(text: str, source: str = "<text>") -> list[Exercise]:
    """Parse the solution markers of a lesson's text; raise MarkerError on any malformed marker."""
    exercises: list[Exercise] = []
    seen: dict[str, int] = {}
    open_ex: tuple[int, str, str, str] | None = None  # (line, id, what, indent)
    fence = ""  # the backticks that opened the current code cell; "" outside code cells
    for lineno, line in enumerate(text.splitlines(), start=1):
        where = f"{source}:{lineno}"
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin and fence:
            if open_ex is not None:
                raise MarkerError(
                    f"{where}: BEGIN SOLUTION inside the block opened at line {open_ex[0]} "
                    "(missing ### END SOLUTION)"
                )
            title = _TITLE.match(begin["rest"])
            if title is None:
                raise MarkerError(
                    f"{where}: BEGIN SOLUTION must be followed by 'Exercise N.k: <what to write>', "
                    f"got {line.strip()!r}"
                )
            ex_id = title["id"]
            if ex_id in seen:
                raise MarkerError(
                    f"{where}: duplicate exercise id {ex_id} (first used at line {seen[ex_id]})"
                )
            seen[ex_id] = lineno
            open_ex = (lineno, ex_id, title["what"], begin["indent"])
        elif end and fence:
            if open_ex is None:
                raise MarkerError(f"{where}: END SOLUTION without a matching BEGIN SOLUTION")
            exercises.append(Exercise(open_ex[1], open_ex[2], open_ex[0], lineno, open_ex[3]))
            open_ex = None
        elif fence and _LOOSE.search(line):
            raise MarkerError(
                f"{where}: malformed marker {line.strip()!r}; a marker is a line "
                "'### BEGIN SOLUTION Exercise N.k: <what to write>' or '### END SOLUTION'"
            )
        elif (opened := _CELL_OPEN.match(line)) and not fence:
            fence = opened["fence"]
        elif fence and (closed := _FENCE_CLOSE.match(line)) and len(closed["fence"]) >= len(fence):
            if open_ex is not None:
                raise MarkerError(
                    f"{where}: code cell ends inside the block opened at line {open_ex[0]} "
                    "(missing ### END SOLUTION)"
                )
            fence = ""
    if open_ex is not None:
        raise MarkerError(
            f"{source}:{open_ex[0]}: BEGIN SOLUTION for Exercise {open_ex[1]} is never closed "
            "(missing ### END SOLUTION)"
        )
    return exercises


def _python_string(s: str) -> str:
    """A double-quoted Python literal for `s` (JSON escaping is valid Python here)."""
    return json.dumps(s, ensure_ascii=False)


def to_student(text: str, source: str = "<text>") -> str:
    """Replace every marked solution block by `raise NotImplementedError("Exercise N.k: ...")`."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    for ex in find_exercises(text, source):
        out.extend(lines[pos : ex.begin - 1])
        newline = "\n" if lines[ex.begin - 1].endswith("\n") else ""
        out.append(f"{ex.indent}raise NotImplementedError({_python_string(ex.message)}){newline}")
        pos = ex.end
    out.extend(lines[pos:])
    return "".join(out)


def make_student(
    lessons_dir: str | Path, out_dir: str | Path, force: bool = False
) -> dict[str, list[Exercise]]:
    """Write the student version of every `lessons_dir/*.md` into `out_dir`; return the exercises.

    Every file is parsed before any is written, so a malformed marker leaves `out_dir` untouched.
    `out_dir` may not be `lessons_dir` or lie inside it (that would overwrite the solutions), and
    an existing student file is overwritten only with `force` (it may hold a learner's work).
    """
    lessons_dir, out_dir = Path(lessons_dir), Path(out_dir)
    if not lessons_dir.is_dir():
        raise FileNotFoundError(f"lessons folder {lessons_dir} does not exist")
    source, target = lessons_dir.resolve(), out_dir.resolve()
    if target == source or source in target.parents:
        raise ValueError(
            f"out_dir {out_dir} is the lessons folder {lessons_dir} or inside it: writing there "
            "would replace the solutions; choose a folder outside it"
        )
    paths = sorted(lessons_dir.glob("*.md"))
    if not paths:
        raise FileNotFoundError(f"no lesson files (*.md) in {lessons_dir}")
    students = {p: to_student(p.read_text(encoding="utf-8"), str(p)) for p in paths}
    existing = [p.name for p in paths if (out_dir / p.name).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{out_dir} already holds {len(existing)} student notebooks ({existing[0]}, ...), "
            "perhaps with a learner's work; pass --force to overwrite them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, text in students.items():
        (out_dir / path.name).write_text(text, encoding="utf-8")
    return {p.name: find_exercises(p.read_text(encoding="utf-8"), str(p)) for p in paths}


def check_exercise(exercise_id: str, ok: bool, detail: str) -> None:
    """Print "Exercise N.k passed: <detail>", or raise AssertionError "Exercise N.k failed: ..."."""
    if not ok:
        raise AssertionError(f"Exercise {exercise_id} failed: {detail}")
    print(f"Exercise {exercise_id} passed: {detail}")


def check_gradients(exercise_id: str, result: Mapping[str, float], tol: float = 1e-7) -> None:
    """`check_exercise` for a `minienc.gradcheck` result: names the worst tensor and its error."""
    if not result:
        raise ValueError("the gradient check compared no tensors")
    worst = max(result, key=result.__getitem__)
    detail = f"worst tensor {worst!r} rel err {result[worst]:.1e} (tol {tol:.0e})"
    ok = all(err <= tol for err in result.values())
    if not ok and hasattr(result, "report"):
        detail += "\n" + result.report(tol)
    check_exercise(exercise_id, ok, detail)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minienc.exercises", description=__doc__.split("\n", 1)[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-student", help="write student notebooks with the solutions removed")
    make.add_argument("lessons", type=Path, help="folder of lesson .md files")
    make.add_argument("out", type=Path, help="folder to write the student notebooks into")
    make.add_argument("--force", action="store_true", help="overwrite existing student notebooks")
    show = sub.add_parser("list", help="print the exercises found in the lessons")
    show.add_argument("lessons", type=Path, help="folder of lesson .md files")
    args = parser.parse_args(argv)
    try:
        if args.command == "make-student":
            found = make_student(args.lessons, args.out, force=args.force)
            n = sum(len(v) for v in found.values())
            print(f"wrote {len(found)} student notebooks with {n} exercises to {args.out}")
        else:
            paths = sorted(args.lessons.glob("*.md"))
            if not paths:
                raise FileNotFoundError(f"no lesson files (*.md) in {args.lessons}")
            for path in paths:
                for ex in find_exercises(path.read_text(encoding="utf-8"), str(path)):
                    print(f"{path.name}:{ex.begin}  {ex.message}")
    except (MarkerError, OSError, ValueError) as err:  # one clear line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
