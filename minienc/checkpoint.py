"""Checkpoints: parameters, optimizer state, config and step, saved atomically in one file.

A checkpoint is one safetensors file:

- each parameter is a tensor under its own name (the torch `state_dict` key), so the file is also
  a plain state dict: `module.load_state_dict(safetensors.torch.load_file(path))` works when no
  optimizer state was saved;
- each array in the optimizer state (any nesting of dicts, lists, tuples and NamedTuples, such as
  optax states) is a tensor under `opt.<path>`, e.g. `opt.0.mu.linear1.weight`;
- a small JSON document rides in the safetensors header (metadata key "minienc"): the format
  version, the parameter names in order, a description of the optimizer-state tree (enough to
  rebuild it, NamedTuple classes included), the config, the step and a SHA-256 of every tensor.

Writes are atomic: the file is written to a temporary name in the same directory, flushed to disk,
then moved over the old checkpoint with `os.replace`. A save that fails or is interrupted halfway
leaves the previous checkpoint as it was. Loading checks the header and the checksum, so a
truncated or corrupted file raises a ValueError naming it instead of returning wrong numbers.

Arrays come back as NumPy arrays, bit for bit (JAX and torch arrays are converted on save). The
config must be JSON-serialisable; JSON has no tuples, so a tuple in the config comes back a list.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

__all__ = ["Checkpoint", "save", "load"]

FORMAT = 1
_META_KEY = "minienc"
_OPT = "opt."


class Checkpoint(NamedTuple):
    """What `load` returns: params {key: array}, the optimizer state (or None), config, step."""

    params: dict[str, np.ndarray]
    opt_state: Any
    config: Any
    step: int | None


def _to_numpy(name: str, x: Any) -> np.ndarray:
    """A NumPy copy of a NumPy, JAX or torch array (anything with `__array__`)."""
    if hasattr(x, "detach"):  # torch.Tensor: leave autograd and the device first
        x = x.detach().cpu()
    if not isinstance(x, np.ndarray | np.generic) and not hasattr(x, "__array__"):
        raise TypeError(f"{name} must be an array (NumPy, JAX or torch), got {type(x).__name__}")
    return np.asarray(x, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)


def _flatten_tree(node: Any, path: str, tensors: dict[str, np.ndarray]) -> Any:
    """Describe `node` in JSON, moving its arrays into `tensors` under `path`-derived keys."""
    if node is None:
        return None
    if isinstance(node, bool | int | float | str):
        return {"value": node}
    if isinstance(node, tuple) and hasattr(type(node), "_fields"):  # a NamedTuple
        cls = type(node)
        fields = {f: _flatten_tree(getattr(node, f), f"{path}.{f}", tensors) for f in cls._fields}
        return {"namedtuple": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    if isinstance(node, list | tuple):
        items = [_flatten_tree(v, f"{path}.{i}", tensors) for i, v in enumerate(node)]
        return {"list" if isinstance(node, list) else "tuple": items}
    if isinstance(node, Mapping):
        bad = [k for k in node if not isinstance(k, str)]
        if bad:
            raise TypeError(f"opt_state{path[len(_OPT) - 1 :]} has non-string keys {bad}")
        return {"dict": {k: _flatten_tree(v, f"{path}.{k}", tensors) for k, v in node.items()}}
    if isinstance(node, np.ndarray | np.generic) or hasattr(node, "__array__"):
        key = path
        if key in tensors:
            raise ValueError(f"two entries of opt_state would both be stored as {key!r}")
        tensors[key] = _to_numpy(f"opt_state{path[len(_OPT) - 1 :]}", node)
        return {"array": key, "scalar": isinstance(node, np.generic)}
    raise TypeError(
        f"opt_state{path[len(_OPT) - 1 :]} is a {type(node).__name__}; a checkpoint stores "
        "arrays, Python scalars, None, and dicts, lists, tuples and NamedTuples of them"
    )


def _import_namedtuple(spec: str) -> type:
    module, _, qualname = spec.partition(":")
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(
            f"cannot rebuild the optimizer state: {spec} is not importable ({e})"
        ) from e
    if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
        raise ValueError(f"cannot rebuild the optimizer state: {spec} is not a NamedTuple class")
    return cls


def _unflatten_tree(desc: Any, tensors: Mapping[str, np.ndarray]) -> Any:
    """Rebuild the tree that `_flatten_tree` described."""
    if desc is None:
        return None
    if "value" in desc:
        return desc["value"]
    if "array" in desc:
        a = tensors[desc["array"]]
        return a[()] if desc.get("scalar") else a
    if "namedtuple" in desc:
        cls = _import_namedtuple(desc["namedtuple"])
        fields = {k: _unflatten_tree(v, tensors) for k, v in desc["fields"].items()}
        if tuple(fields) != tuple(cls._fields):
            raise ValueError(
                f"cannot rebuild the optimizer state: {desc['namedtuple']} has fields "
                f"{cls._fields}, the checkpoint has {tuple(fields)}"
            )
        return cls(**fields)
    if "dict" in desc:
        return {k: _unflatten_tree(v, tensors) for k, v in desc["dict"].items()}
    items = [_unflatten_tree(v, tensors) for v in desc.get("list", desc.get("tuple", []))]
    return items if "list" in desc else tuple(items)


def _checksum(tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        a = tensors[key]
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(
    path: str | os.PathLike,
    params: Mapping[str, Any],
    opt_state: Any = None,
    config: Any = None,
    step: int | None = None,
) -> Path:
    """Save a checkpoint to `path` atomically (the old file stays intact if anything fails).

    Args:
        path: the file to write (conventionally `*.safetensors`); its directory must exist.
        params: a flat dict {torch state_dict key: array}; NumPy, JAX or torch arrays.
        opt_state: optional optimizer state, any nesting of dicts (string keys), lists, tuples,
            NamedTuples (e.g. optax states), arrays, Python scalars and None.
        config: optional JSON-serialisable value (usually a dict of hyperparameters).
        step: optional training step (an int).

    Returns:
        The path written.
    """
    path = Path(path)
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    tensors: dict[str, np.ndarray] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"params keys must be strings, got {key!r}")
        tensors[key] = _to_numpy(f"params[{key!r}]", value)
    opt_tensors: dict[str, np.ndarray] = {}
    opt_desc = None if opt_state is None else _flatten_tree(opt_state, "opt", opt_tensors)
    clashes = sorted(set(tensors) & set(opt_tensors))
    if clashes:
        raise ValueError(f"params keys {clashes} clash with the names of the optimizer state")
    tensors.update(opt_tensors)
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise TypeError(f"step must be an int or None, got {step!r}")
        step = int(step)
    meta = {
        "format": FORMAT,
        "params": list(params),
        "opt_state": opt_desc,
        "config": config,
        "step": step,
        "sha256": _checksum(tensors),
    }
    try:
        header = json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise TypeError(f"config must be JSON-serialisable: {e}") from e

    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        save_file(tensors, tmp, metadata={_META_KEY: header})
        with open(tmp, "rb+") as f:  # the bytes must be on disk before the rename
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header JSON and every tensor of the file, or ValueError naming the file."""
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:
        raise ValueError(
            f"{path} is not a readable checkpoint (corrupted or truncated?): {e}"
        ) from e
    if _META_KEY not in metadata:
        raise ValueError(
            f"{path} is a safetensors file but not a minienc checkpoint (no {_META_KEY!r} metadata)"
        )
    try:
        meta = json.loads(metadata[_META_KEY])
        version = meta["format"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} has a corrupted checkpoint header: {e}") from e
    if version != FORMAT:
        raise ValueError(f"{path} has checkpoint format {version}; this version reads {FORMAT}")
    if _checksum(tensors) != meta.get("sha256"):
        raise ValueError(f"{path} is corrupted: its tensors do not match the saved checksum")
    return meta, tensors


def _check_expected(path: Path, params: Mapping[str, np.ndarray], expected: Mapping) -> None:
    missing = [k for k in expected if k not in params]
    unexpected = [k for k in params if k not in expected]
    misshaped = [
        f"{k!r}: saved {params[k].shape}, expected {tuple(np.shape(expected[k]))}"
        for k in expected
        if k in params and params[k].shape != tuple(np.shape(expected[k]))
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if misshaped:
        problems.append("mis-shaped keys " + "; ".join(misshaped))
    if problems:
        raise ValueError(f"{path} does not match the expected parameters: " + ", ".join(problems))


def load(path: str | os.PathLike, expected: Mapping[str, Any] | None = None) -> Checkpoint:
    """Load a checkpoint written by `save`.

    Args:
        path: the checkpoint file.
        expected: optional template {key: array or anything with a shape}, e.g. freshly
            initialised params; the saved params must have exactly its keys and shapes.

    Returns:
        `Checkpoint(params, opt_state, config, step)`: params a dict of NumPy arrays in the saved
        order, opt_state rebuilt with its original structure (NumPy leaves), or None.

    Raises:
        FileNotFoundError when there is no file; ValueError naming the file when it is truncated,
        corrupted or not a checkpoint, or when it does not match `expected` (naming the missing,
        unexpected and mis-shaped keys).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    meta, tensors = _read(path)
    try:
        params = {k: tensors[k] for k in meta["params"]}
        opt_state = _unflatten_tree(meta["opt_state"], tensors)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path} has a corrupted checkpoint header: {e!r}") from e
    if expected is not None:
        _check_expected(path, params, expected)
    return Checkpoint(params, opt_state, meta["config"], meta["step"])
