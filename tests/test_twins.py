"""Every public module of minienc.numpy has a twin of the same name in minienc.jax, with the same
public functions and the same argument names in the same order (DESIGN §1). NumPy may add
`backward` and `*_backward` functions (its forwards also return caches, which the signatures do
not show); JAX has no public function that NumPy lacks."""

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import minienc.jax
import minienc.numpy

# NumPy modules (or "module.function") without a JAX twin. optim: JAX uses optax.
NOT_TWINNED = {"optim"}


def public_modules(package: ModuleType) -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name[0] != "_")


def public_functions(module: ModuleType) -> dict[str, list[str]]:
    """Name -> parameter names of the public functions defined in `module` (not imported)."""
    return {
        name: list(inspect.signature(f).parameters)
        for name, f in vars(module).items()
        if inspect.isfunction(f) and f.__module__ == module.__name__ and name[0] != "_"
    }


def is_backward(name: str) -> bool:
    return name == "backward" or name.endswith("_backward")


def twin(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"minienc.jax.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"minienc.jax.{name}":
            raise  # the twin exists but fails to import
        return None


def test_every_jax_module_has_a_numpy_twin():
    extra = sorted(set(public_modules(minienc.jax)) - set(public_modules(minienc.numpy)))
    assert not extra, f"minienc.jax has modules that minienc.numpy lacks: {extra}"


@pytest.mark.parametrize("name", public_modules(minienc.numpy))
def test_jax_twin_has_the_same_functions_and_arguments(name):
    jax_module = twin(name)
    if jax_module is None:
        if name in NOT_TWINNED:
            pytest.skip(f"minienc.jax.{name} is not required (NOT_TWINNED)")
        pytest.fail(f"minienc.numpy.{name} has no twin: minienc.jax.{name} does not exist")
    ours = public_functions(importlib.import_module(f"minienc.numpy.{name}"))
    theirs = public_functions(jax_module)
    problems = []
    for fn, params in ours.items():
        if is_backward(fn) or f"{name}.{fn}" in NOT_TWINNED:
            continue
        if fn not in theirs:
            problems.append(f"{fn}: in NumPy {params}, missing in JAX")
        elif theirs[fn] != params:
            problems.append(f"{fn}: NumPy has parameters {params}, JAX has {theirs[fn]}")
    problems += [
        f"{fn}: in JAX {params}, missing in NumPy"
        for fn, params in theirs.items()
        if fn not in ours
    ]
    assert not problems, f"minienc.numpy.{name} and minienc.jax.{name} differ:\n" + "\n".join(
        problems
    )
