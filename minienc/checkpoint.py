"""Checkpoints: parameters, optimizer state, config and step, saved atomically in one file.

A checkpoint is one safetensors file, and nothing in it but arrays and text:

- each parameter is a tensor under its own name (the torch `state_dict` key), so the file is also
  a plain state dict: `module.load_state_dict(safetensors.torch.load_file(path))` works when no
  optimizer state was saved;
- each array of the optimizer state is a tensor named by its path in the state's tree, written
  as `jax.tree_util.keystr` writes it after the word `opt_state`, e.g.
  `opt_state[1][0].mu['linear1.weight']` for optax's AdamW, `opt_state['m']['linear1.weight']`
  for `minienc.numpy.optim.AdamW`. A Python number in the state (the NumPy optimizers' `step`)
  is a 0-d tensor (bool, int64 or float64); None holds no tensor;
- the safetensors metadata holds two strings: "minienc", a JSON document
  `{"format": 2, "params": [names in order], "opt_state": [names] or null, "config": {...} or
  null, "step": int or null}`, and "minienc.sha256", a SHA-256 of every other metadata entry and
  of every tensor's name, dtype, shape and bytes.

Loading never imports or evaluates anything named in the file. The file does not say what kind
of object the optimizer state was; the caller does, by passing a template, `opt_state_like =
optimizer.init(params)`, and `load` fills the template's leaves with the saved arrays after
checking that names, shapes and dtypes agree (like `flax.serialization.from_state_dict`);
without a template, `load` returns the saved arrays as a flat dict by name. A checkpoint is data:
a file from elsewhere can hold wrong numbers, never run code.

Writes are atomic: the file is written to a temporary name in the same folder, flushed to disk,
then moved over the old checkpoint with `os.replace`, so an interrupted save leaves the previous
checkpoint as it was; the next save in the folder deletes the temporary file it left behind (one
process should save into a folder at a time). Loading checks the checksum, so a truncated or
corrupted file raises a ValueError naming it instead of returning wrong numbers. The checksum
guards against accidents, not against someone who rewrites the file on purpose.

Arrays come back as NumPy arrays, bit for bit (JAX and torch arrays are converted on save).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

__all__ = ["Checkpoint", "save", "load"]

FORMAT = 2
_META_KEY = "minienc"
_SHA_KEY = "minienc.sha256"
_OPT = "opt_state"  # the optimizer-state tensors' names all start with it
_TMP_SUFFIX = ".minienc-tmp"
_DTYPES = {np.dtype(t) for t in (np.bool_, np.float16, np.float32, np.float64, np.complex64)} | {
    np.dtype(f"{s}int{n}") for s in ("", "u") for n in (8, 16, 32, 64)
}
_PY_DTYPES = {bool: np.dtype(np.bool_), int: np.dtype(np.int64), float: np.dtype(np.float64)}


class Checkpoint(NamedTuple):
    """What `load` returns: params {key: array}, the optimizer state (or None), config, step."""

    params: dict[str, np.ndarray]
    opt_state: Any
    config: dict[str, Any] | None
    step: int | None


def _is_reserved(key: str) -> bool:
    return key == "__metadata__" or key == _OPT or key.startswith((f"{_OPT}[", f"{_OPT}."))


def _to_numpy(name: str, x: Any) -> np.ndarray:
    """A NumPy copy of a NumPy, JAX or torch array (or a Python number) of a supported dtype."""
    if hasattr(x, "detach"):  # torch.Tensor: leave autograd and the device first
        x = x.detach().cpu()
    if type(x) in _PY_DTYPES:
        x = np.asarray(x, dtype=_PY_DTYPES[type(x)])
    if not isinstance(x, np.ndarray | np.generic) and not hasattr(x, "__array__"):
        raise TypeError(f"{name} must be an array (NumPy, JAX or torch), got {type(x).__name__}")
    a = np.asarray(x, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    if a.dtype not in _DTYPES:
        raise TypeError(
            f"{name} has dtype {a.dtype}, which a checkpoint cannot store; supported: "
            f"{', '.join(sorted(str(d) for d in _DTYPES))}"
        )
    return a


def _spec(name: str, like: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a template leaf: an array, anything with .shape and .dtype, a number."""
    if type(like) in _PY_DTYPES:
        return (), _PY_DTYPES[type(like)]
    try:
        dtype = like.dtype
        if hasattr(like, "detach"):  # torch.float32 -> float32
            dtype = str(dtype).removeprefix("torch.")
        return tuple(like.shape), np.dtype(dtype)
    except (AttributeError, TypeError) as e:
        raise TypeError(f"{name} must be an array or a number, got {type(like).__name__}") from e


def _map_leaves(fn: Callable[[str, Any], Any], node: Any, path: str) -> Any:
    """The tree `node` with each leaf replaced by fn(its path, it); the path as keystr writes it.

    Dicts (string keys), lists, tuples and NamedTuples are walked; anything else is a leaf.
    """
    if isinstance(node, tuple) and hasattr(type(node), "_fields"):  # a NamedTuple
        return type(node)(*(_map_leaves(fn, getattr(node, f), f"{path}.{f}") for f in node._fields))
    if isinstance(node, list | tuple):
        items = [_map_leaves(fn, v, f"{path}[{i}]") for i, v in enumerate(node)]
        return items if isinstance(node, list) else tuple(items)
    if isinstance(node, Mapping):
        bad = [k for k in node if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{path} has non-string keys {bad}; a checkpoint needs string keys")
        return {k: _map_leaves(fn, v, f"{path}[{k!r}]") for k, v in node.items()}
    return fn(path, node)


def _flatten(opt_state: Any) -> dict[str, np.ndarray]:
    """The arrays of an optimizer state, by their paths (`opt_state[1][0].mu['weight']`)."""
    tensors: dict[str, np.ndarray] = {}

    def store(name: str, leaf: Any) -> None:
        if leaf is not None:
            tensors[name] = _to_numpy(name, leaf)

    _map_leaves(store, opt_state, _OPT)
    return tensors


def _checksum(metadata: Mapping[str, str], tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the metadata entries and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(json.dumps(sorted(metadata.items())).encode())
    for key in sorted(tensors):
        a = tensors[key]
        h.update(json.dumps([key, a.dtype.str, a.shape]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(
    path: str | os.PathLike,
    params: Mapping[str, Any],
    opt_state: Any = None,
    config: Mapping[str, Any] | Any = None,
    step: int | None = None,
) -> Path:
    """Save a checkpoint to `path` atomically (the old file stays intact if anything fails).

    Args:
        path: the file to write (conventionally `*.safetensors`); its folder must exist.
        params: a flat dict {torch state_dict key: array}; NumPy, JAX or torch arrays. The names
            `__metadata__` and `opt_state`, `opt_state[...`, `opt_state....` are reserved.
        opt_state: optional optimizer state: any nesting of dicts (string keys), lists, tuples and
            NamedTuples (e.g. optax states) of arrays, Python numbers and None.
        config: optional dict of plain JSON values, or a dataclass (saved as `dataclasses.asdict`).
        step: optional training step (an int).

    Returns:
        The path written.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save {path}: the folder {path.parent} does not exist")
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    tensors: dict[str, np.ndarray] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"params keys must be strings, got {key!r}")
        if _is_reserved(key):
            raise ValueError(
                f"params key {key!r} is reserved: '__metadata__' belongs to safetensors and "
                f"names starting with {_OPT!r} to the optimizer state"
            )
        tensors[key] = _to_numpy(f"params[{key!r}]", value)
    opt_tensors = None if opt_state is None else _flatten(opt_state)
    tensors |= opt_tensors or {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict, a dataclass or None, got {type(config).__name__}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise TypeError(f"step must be an int or None, got {step!r}")
        step = int(step)
    opt_names = None if opt_tensors is None else list(opt_tensors)
    doc = {"format": FORMAT, "params": list(params), "opt_state": opt_names, "config": config}
    try:
        metadata = {_META_KEY: json.dumps(doc | {"step": step}, allow_nan=False)}
    except (TypeError, ValueError) as e:
        raise TypeError(f"config must hold plain JSON values (dict, list, str, number): {e}") from e
    metadata[_SHA_KEY] = _checksum(metadata, tensors)

    for stale in path.parent.glob(f".*{_TMP_SUFFIX}"):  # left by a save that was killed
        stale.unlink(missing_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb+") as f:  # the bytes must be on disk before the rename
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checked JSON document and every tensor of the file, or a ValueError naming the file."""
    try:
        with safe_open(path, framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:
        raise ValueError(
            f"{path} is not a readable checkpoint (corrupted or truncated?): {e}"
        ) from e
    if _META_KEY not in metadata:
        raise ValueError(f"{path} is a safetensors file but not a minienc checkpoint")
    try:
        doc = json.loads(metadata[_META_KEY])
        version = doc["format"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} has a corrupted checkpoint header: {e!r}") from e
    if version != FORMAT:
        raise ValueError(
            f"{path} has checkpoint format {version!r}; this version of minienc reads {FORMAT}"
        )
    digest = metadata.pop(_SHA_KEY, None)
    if _checksum(metadata, tensors) != digest:
        raise ValueError(f"{path} is corrupted: its contents do not match the saved checksum")
    names, opt_names = doc.get("params"), doc.get("opt_state") or []
    if not (
        isinstance(names, list)
        and isinstance(opt_names, list)
        and all(isinstance(n, str) for n in names + opt_names)
        and sorted(names + opt_names) == sorted(tensors)
        and isinstance(doc.get("config"), dict | None)
        and type(doc.get("step")) in (int, type(None))
    ):
        raise ValueError(f"{path} has an inconsistent checkpoint header")
    return doc, tensors


def _check_expected(path: Path, params: Mapping[str, np.ndarray], expected: Mapping) -> None:
    problems = []
    missing = [k for k in expected if k not in params]
    unexpected = [k for k in params if k not in expected]
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    for k in expected:
        if k not in params:
            continue
        like = expected[k]
        shape = tuple(like.shape) if hasattr(like, "shape") else np.shape(like)
        if params[k].shape != shape:
            problems.append(f"{k!r}: saved shape {params[k].shape}, expected {shape}")
        elif hasattr(like, "dtype") and params[k].dtype != _spec(k, like)[1]:
            problems.append(f"{k!r}: saved dtype {params[k].dtype}, expected {like.dtype}")
    if problems:
        raise ValueError(f"{path} does not match the expected parameters: " + "; ".join(problems))


def _fill(path: Path, saved: Mapping[str, np.ndarray], template: Any) -> Any:
    """The template's tree with its leaves replaced by the saved arrays of the same names."""
    problems, used = [], set()

    def take(name: str, like: Any) -> Any:
        if like is None:  # e.g. SGD's momentum before the first step: take what was saved
            used.add(name)
            return saved.get(name)
        shape, dtype = _spec(name, like)
        if name not in saved:
            problems.append(f"{name} is missing")
            return None
        a = saved[name]
        used.add(name)
        if (a.shape, a.dtype) != (shape, dtype):
            problems.append(f"{name}: saved {a.dtype} {a.shape}, expected {dtype} {shape}")
            return None
        if type(like) in _PY_DTYPES:
            return a.item()
        return a[()] if isinstance(like, np.generic) else a

    state = _map_leaves(take, template, _OPT)
    problems += [f"{name} is not in opt_state_like" for name in saved if name not in used]
    if problems:
        raise ValueError(
            f"{path}: the saved optimizer state does not match opt_state_like: "
            + "; ".join(problems)
        )
    return state


def load(
    path: str | os.PathLike,
    expected: Mapping[str, Any] | None = None,
    opt_state_like: Any = None,
) -> Checkpoint:
    """Load a checkpoint written by `save`.

    Args:
        path: the checkpoint file.
        expected: optional template {key: array, or anything with .shape (and .dtype)}, e.g.
            freshly initialised params; the saved params must have exactly its keys, shapes, dtypes.
        opt_state_like: optional template of the optimizer state, `optimizer.init(params)`: the
            saved optimizer state is poured into its structure (its names, shapes and dtypes must
            match; a None leaf takes whatever array was saved under its name, or stays None).

    Returns:
        `Checkpoint(params, opt_state, config, step)`: params a dict of NumPy arrays in the saved
        order; opt_state in the structure of `opt_state_like` with NumPy leaves, or, without a
        template, the flat dict {tensor name: array} (e.g. `opt_state[1][0].mu['weight']`), or
        None when no optimizer state was saved; config a dict or None; step an int or None.

    Raises:
        FileNotFoundError when there is no file; ValueError naming the file when it is truncated,
        corrupted or not a checkpoint, when it does not match `expected` or `opt_state_like`
        (naming the missing, unexpected and mismatched tensors), or when a template is given for
        an optimizer state the file does not have.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    doc, tensors = _read(path)
    params = {k: tensors[k] for k in doc["params"]}
    if expected is not None:
        _check_expected(path, params, expected)
    opt_state = None
    if doc.get("opt_state") is not None:
        opt_state = {k: tensors[k] for k in doc["opt_state"]}
        if opt_state_like is not None:
            opt_state = _fill(path, opt_state, opt_state_like)
    elif opt_state_like is not None:
        raise ValueError(f"{path} holds no optimizer state, but opt_state_like was given")
    return Checkpoint(params, opt_state, doc.get("config"), doc.get("step"))
