"""Exercise markers, student notebooks, and checker cells.

The student copy of each lesson (`python -m minienc.exercises make-student`) must make every
checker cell fail with NotImplementedError or AssertionError; the solution side (each checker prints
"Exercise N.k passed" on the lesson itself) is asserted in tests/test_lessons.py, which executes
every lesson once.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest
from test_lessons import LESSONS, LESSONS_DIR, checker_cells, execute

from minienc.exercises import (
    MarkerError,
    check_exercise,
    check_gradients,
    find_exercises,
    main,
    to_student,
)


def _has_exercises(path: Path) -> bool:
    try:
        return bool(find_exercises(path.read_text(), str(path)))
    except MarkerError:
        return True  # collected, so that the test reports the bad marker


LESSONS_WITH_EXERCISES = [p for p in LESSONS if _has_exercises(p)]


def cell(*lines: str, fence: str = "```") -> str:
    return "\n".join([fence + "{code-cell} ipython3", *lines, fence]) + "\n"


GOOD = (
    "# A lesson\n\nSome prose.\n\n"
    + cell(
        "def f(x):",
        "    y = 2 * x",
        "    ### BEGIN SOLUTION Exercise 3.1: double y",
        "    y = 2 * y",
        "    if y > 0:",
        "        y += 1",
        "    ### END SOLUTION",
        "    return y",
    )
    + "\nMore prose.\n\n"
    + cell(
        '### BEGIN SOLUTION Exercise 3.2: set z to "four" \\ a path',
        "z = 4",
        "### END SOLUTION",
        "print(z)",
    )
)


def test_find_exercises_reads_ids_tasks_and_lines():
    found = find_exercises(GOOD)
    assert [(e.id, e.what, e.begin, e.end) for e in found] == [
        ("3.1", "double y", 8, 12),
        ("3.2", 'set z to "four" \\ a path', 19, 21),
    ]


def test_to_student_replaces_blocks_and_keeps_indentation():
    student = to_student(GOOD)
    lines = student.splitlines()
    assert '    raise NotImplementedError("Exercise 3.1: double y")' in lines
    assert lines[lines.index("def f(x):") + 3] == "    return y"
    assert "BEGIN SOLUTION" not in student and "END SOLUTION" not in student
    assert "y = 2 * y" not in student and "z = 4" not in student
    assert student.startswith("# A lesson\n\nSome prose.\n") and "\nMore prose.\n" in student
    # the replacement is valid Python even with quotes and backslashes in the task text
    code = next(ln for ln in lines if "Exercise 3.2" in ln)
    with pytest.raises(NotImplementedError, match=r'Exercise 3\.2: set z to "four" \\ a path'):
        exec(compile(code, "<student>", "exec"), {})


def test_to_student_without_markers_is_identity():
    text = "# Prose only\n\n" + cell("x = 1")
    assert to_student(text) == text


def test_markers_outside_code_cells_are_prose():
    text = "```python\n### BEGIN SOLUTION\nx = 1\n```\n\n### END SOLUTION\n"
    assert find_exercises(text) == [] and to_student(text) == text


def test_longer_fences_are_code_cells():
    text = cell("### BEGIN SOLUTION Exercise 1.1: one", "x = 1", "### END SOLUTION", fence="````")
    assert to_student(text).splitlines()[1] == 'raise NotImplementedError("Exercise 1.1: one")'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            cell("### BEGIN SOLUTION Exercise 1.1: a", "x = 1"),
            r"lesson\.md:4: code cell ends inside the block opened at line 2",
        ),
        (cell("x = 1", "### END SOLUTION"), r"lesson\.md:3: END SOLUTION without a matching BEGIN"),
        (
            cell("### BEGIN SOLUTION Exercise 1.1: a", "### BEGIN SOLUTION Exercise 1.2: b"),
            r"lesson\.md:3: BEGIN SOLUTION inside the block opened at line 2",
        ),
        (
            cell("### BEGIN SOLUTION Exercise 1.1: a", "### END SOLUTION")
            + cell("### BEGIN SOLUTION Exercise 1.1: b", "### END SOLUTION"),
            r"lesson\.md:6: duplicate exercise id 1\.1 \(first used at line 2\)",
        ),
        (
            cell("### BEGIN SOLUTION", "x = 1", "### END SOLUTION"),
            r"lesson\.md:2: BEGIN SOLUTION must be followed by 'Exercise N\.k: <what to write>'",
        ),
        (
            cell("### BEGIN SOLUTION Exercise 1.1:", "### END SOLUTION"),
            r"lesson\.md:2: BEGIN SOLUTION must be followed by 'Exercise N\.k",
        ),
        (
            cell("### BEGIN SOLUTION exercise one: a", "### END SOLUTION"),
            r"lesson\.md:2: BEGIN SOLUTION must be followed",
        ),
        (
            "```{code-cell} ipython3\n### BEGIN SOLUTION Exercise 1.1: a\n",
            r"lesson\.md:2: BEGIN SOLUTION for Exercise 1\.1 is never closed",
        ),
        (
            cell("x = 1  ### END SOLUTION"),
            r"lesson\.md:2: malformed marker 'x = 1  ### END SOLUTION'",
        ),
        (
            cell("## BEGIN SOLUTION Exercise 1.1: a", "## END SOLUTION"),
            r"lesson\.md:2: malformed marker",
        ),
    ],
    ids=[
        "unclosed-in-cell",
        "end-without-begin",
        "nested-begin",
        "duplicate-id",
        "no-title",
        "empty-task",
        "bad-id",
        "unclosed-at-eof",
        "end-after-code",
        "two-hashes",
    ],
)
def test_bad_markers_raise_with_file_and_line(text: str, message: str):
    with pytest.raises(MarkerError, match=message):
        find_exercises(text, "lesson.md")
    with pytest.raises(MarkerError, match=message):
        to_student(text, "lesson.md")


def test_cli_make_student_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    src = tmp_path / "lessons"
    src.mkdir()
    (src / "03_demo.md").write_text(GOOD)
    (src / "04_plain.md").write_text("# no exercises\n")
    assert main(["make-student", str(src), str(tmp_path / "student")]) == 0
    assert (tmp_path / "student" / "03_demo.md").read_text() == to_student(GOOD)
    assert (tmp_path / "student" / "04_plain.md").read_text() == "# no exercises\n"
    assert main(["list", str(src)]) == 0
    out = capsys.readouterr().out
    assert "03_demo.md:8  Exercise 3.1: double y" in out
    assert "2 student notebooks with 2 exercises" in out


def test_cli_reports_bad_markers_without_writing(tmp_path: Path, capsys):
    src = tmp_path / "lessons"
    src.mkdir()
    (src / "01_ok.md").write_text(GOOD)
    (src / "02_bad.md").write_text(cell("### END SOLUTION"))
    assert main(["make-student", str(src), str(tmp_path / "student")]) == 2
    assert "02_bad.md:2: END SOLUTION without a matching BEGIN" in capsys.readouterr().err
    assert not (tmp_path / "student").exists()


def test_make_student_protects_the_solutions_and_the_learners_work(tmp_path: Path, capsys):
    src = tmp_path / "lessons"
    src.mkdir()
    (src / "03_demo.md").write_text(GOOD)
    for out in (src, src / "student", src / "a" / ".."):
        assert main(["make-student", str(src), str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "would replace the solutions" in err
        assert err.count("\n") == 1  # one line, no traceback
    assert (src / "03_demo.md").read_text() == GOOD and not (src / "student").exists()
    out = tmp_path / "student"
    assert main(["make-student", str(src), str(out)]) == 0
    (out / "03_demo.md").write_text("a learner's answers")
    assert main(["make-student", str(src), str(out)]) == 2
    assert "pass --force to overwrite" in capsys.readouterr().err
    assert (out / "03_demo.md").read_text() == "a learner's answers"
    assert main(["make-student", str(src), str(out), "--force"]) == 0
    assert (out / "03_demo.md").read_text() == to_student(GOOD)
    assert main(["make-student", str(tmp_path / "missing"), str(out)]) == 2
    assert "lessons folder" in capsys.readouterr().err


def test_check_exercise_messages(capsys):
    check_exercise("2.1", True, "all good")
    assert capsys.readouterr().out == "Exercise 2.1 passed: all good\n"
    with pytest.raises(AssertionError, match=r"^Exercise 2\.1 failed: worst tensor"):
        check_exercise("2.1", False, "worst tensor 'weight' rel err 1.0e+00")


def test_check_gradients_names_the_worst_tensor(capsys):
    check_gradients("2.2", {"x": 1e-10, "weight": 3e-9})
    assert "Exercise 2.2 passed: worst tensor 'weight' rel err 3.0e-09" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"Exercise 2\.2 failed: worst tensor 'bias' rel err"):
        check_gradients("2.2", {"x": 1e-10, "bias": 0.5})


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_lesson_markers_are_valid_and_every_exercise_has_a_checker(path: Path):
    text = path.read_text()
    exercise_ids = {e.id for e in find_exercises(text, str(path))}
    checked = {ex_id for ex_id, _ in checker_cells(jupytext.reads(text, fmt="md:myst"))}
    assert checked == exercise_ids, (
        f"{path.name}: exercises {sorted(exercise_ids)} but checker cells for {sorted(checked)}"
    )
    lesson_number = int(path.name.split("_", 1)[0])
    for ex_id in exercise_ids:
        assert int(ex_id.split(".")[0]) == lesson_number, f"{path.name}: Exercise {ex_id}"


@pytest.mark.parametrize(
    "path", LESSONS_WITH_EXERCISES, ids=[p.name for p in LESSONS_WITH_EXERCISES]
)
def test_student_notebook_fails_every_checker(path: Path, tmp_path: Path):
    student = tmp_path / path.name
    student.write_text(to_student(path.read_text(), str(path)))
    nb = execute(student, allow_errors=True, cwd=LESSONS_DIR, stop_after_last_checker=True)
    checkers = list(checker_cells(nb))
    assert checkers
    for exercise_id, c in checkers:
        errors = [o for o in c.outputs if o.output_type == "error"]
        assert errors and errors[0].ename in {"NotImplementedError", "AssertionError"}, (
            f"{path.name}: on the student notebook the checker for Exercise {exercise_id} should "
            f"fail with NotImplementedError or AssertionError, got "
            f"{[o.get('ename') for o in errors] or 'no error'}:\n{c.source}"
        )
        assert re.match(rf"Exercise {re.escape(exercise_id)}\b", errors[0].evalue), (
            f"{path.name}: the checker for Exercise {exercise_id} failed on another exercise: "
            f"{errors[0].ename}: {errors[0].evalue}"
        )
