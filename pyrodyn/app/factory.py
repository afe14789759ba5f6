"""Config specs -> objects: the one place where strings become classes.

A spec is a mapping with a ``type`` and the constructor's keyword arguments::

    {"type": "SVAE", "latent_dim": 8, "dynamics": {"type": "LinearDynamics", "latent_dim": 8}}

``type`` is a class name looked up case-insensitively among the pyrodyn subclasses of the
extension-point base classes (found by importing pyrodyn's subpackages and their subpackages, so
defining a class in its package is all it takes; a model's objective in ``pyrodyn/models/<model>/``
is found as an ``Objective``), a ``module.path:ClassName`` (a user's own class), or one of a few
GPyTorch kernels (``RBFKernel``, ``MaternKernel``, ``ScaleKernel``, ``PeriodicKernel``,
``SpectralMixtureKernel``, or ``gpytorch.kernels:Name``). Nested specs (mappings with a ``type``,
and lists or mappings of them) are built first and passed to the constructor as objects.

Whatever a ``type`` names must be a class deriving from its category's base class (or, for a
nested spec, from one of the component bases), checked before it is called, so a config cannot
call a function such as ``os:system``. Inside :func:`restricted_imports` (how every command that
opens an existing run directory builds it) a ``module.path:ClassName`` may only name a module of
pyrodyn, torch or gpytorch, or one the user trusted by name; the check runs before the module is
imported, so an untrusted module's import-time code never runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import importlib
import inspect
import logging
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pyrodyn.exceptions import UntrustedCodeError

logger = logging.getLogger(__name__)

#: Subpackages scanned for components (missing ones are skipped).
SEARCH_PACKAGES = (
    "pyrodyn.likelihoods",
    "pyrodyn.priors",
    "pyrodyn.priors.gp",
    "pyrodyn.dynamics",
    "pyrodyn.nn.encoders",
    "pyrodyn.nn.fusion",
    "pyrodyn.nn.decoders",
    "pyrodyn.models",
    "pyrodyn.objectives",
)

#: GPyTorch kernels accepted by bare name.
GPYTORCH_KERNELS = (
    "RBFKernel",
    "MaternKernel",
    "ScaleKernel",
    "PeriodicKernel",
    "SpectralMixtureKernel",
)

_BASES: dict[str, tuple[str, str]] = {
    # category -> (module, class name)
    "Likelihood": ("pyrodyn.likelihoods.base", "Likelihood"),
    "LatentPrior": ("pyrodyn.priors.base", "LatentPrior"),
    "DynamicsModel": ("pyrodyn.dynamics.base", "DynamicsModel"),
    "Encoder": ("pyrodyn.nn.encoders.base", "Encoder"),
    "Fusion": ("pyrodyn.nn.fusion.base", "Fusion"),
    "Decoder": ("pyrodyn.nn.decoders", "Decoder"),
    "GenerativeModel": ("pyrodyn.models.base", "GenerativeModel"),
    "Objective": ("pyrodyn.objectives.elbo", "TermsELBO"),
    "Kernel": ("gpytorch.kernels", "Kernel"),
}

#: Module roots a run directory's config may always name (``module.path:ClassName``).
TRUSTED_ROOTS = ("pyrodyn", "torch", "gpytorch")

# None: any module may be imported (a user's own config); otherwise the extra trusted roots.
_trusted: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar(
    "pyrodyn_trusted_modules", default=None
)


def _check_module_name(name: str) -> str:
    if not isinstance(name, str) or not name or not all(p.isidentifier() for p in name.split(".")):
        raise ValueError(f"a trusted module must be a dotted module name, got {name!r}")
    return name


@contextlib.contextmanager
def restricted_imports(trusted_modules: Iterable[str] = ()) -> Iterator[None]:
    """Only pyrodyn, torch, gpytorch and ``trusted_modules`` may be named within the block.

    Inside it a ``module.path:ClassName`` type must name one of those modules (a trusted
    module's submodules are trusted with it). Used whenever a configuration that someone else
    may have written (a run directory's ``config.yaml``) is built.

    Args:
        trusted_modules: extra module names the user trusts (``--trust`` on the command line).
    """
    if isinstance(trusted_modules, str):
        trusted_modules = [trusted_modules]
    given = frozenset(_check_module_name(m) for m in trusted_modules)
    # nested blocks can only add trust to the enclosing one (the command line's --trust)
    token = _trusted.set((_trusted.get() or frozenset()) | given)
    try:
        yield
    finally:
        _trusted.reset(token)


def _module_trusted(module: str) -> bool:
    extra = _trusted.get()
    if extra is None:
        return True
    roots = (*TRUSTED_ROOTS, *extra)
    return any(module == r or module.startswith(r + ".") for r in roots)


_registry: dict[str, dict[str, type]] | None = None
_import_errors: dict[str, str] = {}


def base_class(category: str) -> type:
    """The base class of a category (``"Likelihood"``, ``"GenerativeModel"``, ...)."""
    if category not in _BASES:
        raise ValueError(f"unknown component category {category!r}; valid: {sorted(_BASES)}")
    module, name = _BASES[category]
    return getattr(importlib.import_module(module), name)


def _import_all() -> None:
    for pkg_name in SEARCH_PACKAGES:
        try:
            pkg = importlib.import_module(pkg_name)
        except ModuleNotFoundError as err:
            if err.name is not None and pkg_name.startswith(err.name):
                continue  # the subpackage does not exist (yet)
            _import_errors[pkg_name] = f"{type(err).__name__}: {err}"
            logger.warning("could not import %s: %s", pkg_name, err)
            continue
        except Exception as err:  # a broken component must not hide all the others
            _import_errors[pkg_name] = f"{type(err).__name__}: {err}"
            logger.warning("could not import %s: %s", pkg_name, err)
            continue
        for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), pkg_name + "."):
            try:
                importlib.import_module(info.name)
            except Exception as err:
                _import_errors[info.name] = f"{type(err).__name__}: {err}"
                logger.warning("could not import %s: %s", info.name, err)


def _subclasses(cls: type) -> list[type]:
    out, todo = [], list(cls.__subclasses__())
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


def registry(refresh: bool = False) -> dict[str, dict[str, type]]:
    """Category -> {lower-case class name -> class} of every pyrodyn component.

    Args:
        refresh: rescan (after new modules were imported).
    """
    global _registry
    if _registry is not None and not refresh:
        return _registry
    _import_all()
    reg: dict[str, dict[str, type]] = {}
    for category in _BASES:
        base = base_class(category)
        found: dict[str, type] = {}
        if category == "Kernel":
            continue  # bare kernel names are the GPYTORCH_KERNELS below
        for c in _subclasses(base):
            if not c.__module__.startswith("pyrodyn.") or c.__name__.startswith("_"):
                continue
            if inspect.isabstract(c) or c.__module__.startswith("pyrodyn.testing"):
                continue
            found.setdefault(c.__name__.lower(), c)
        reg[category] = found
    _registry = reg
    return reg


def available(category: str | None = None) -> dict[str, list[str]]:
    """Class names per category (or of one category), sorted."""
    reg = registry()
    cats = list(reg) if category is None else [category]
    out = {c: sorted(cls.__name__ for cls in reg[c].values()) for c in cats}
    if "Kernel" in out:
        out["Kernel"] = list(GPYTORCH_KERNELS)
    return out


def _import_path(name: str) -> type:
    module, _, attr = name.partition(":")
    if not module or not attr:
        raise ValueError(f"type {name!r} must look like 'module.path:ClassName'")
    if not _module_trusted(module):
        root = module.split(".")[0]
        raise UntrustedCodeError(
            f"type {name!r} names module {module!r}, which is not trusted: a run directory's "
            f"config may only name classes of {', '.join(TRUSTED_ROOTS)} (it was not imported). "
            f"If you trust whoever wrote this run, pass --trust {root} on the command line or "
            f"trusted_modules=[{root!r}] in Python"
        )
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"cannot import module {module!r} for type {name!r}: {err}") from err
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(mod) if not n.startswith("_"))
            raise ValueError(f"module {module!r} has no {attr!r}; it defines {public}")
        obj = getattr(obj, part)
    return obj


def _check_class(cls: Any, name: str, category: str | None) -> type:
    """``cls`` if it is a class deriving from ``category``'s base, else an error.

    With ``category`` None any component base will do. Runs before ``cls`` is called.
    """
    cats = list(_BASES) if category is None else [category]
    bases = tuple(base_class(c) for c in cats)
    if isinstance(cls, type) and issubclass(cls, bases):
        return cls
    what = "a class" if isinstance(cls, type) else f"a {type(cls).__name__}, not a class"
    expected = (
        f"a subclass of {bases[0].__module__}.{bases[0].__qualname__}"
        if category is not None
        else "a subclass of one of the component bases "
        + ", ".join(f"{b.__qualname__}" for b in bases)
    )
    raise UntrustedCodeError(
        f"type {name!r} is {what}; a {category or 'component'} type must be {expected}"
    )


def resolve(name: str, category: str | None = None) -> type:
    """The class named ``name`` (case-insensitive), optionally restricted to one category.

    Raises:
        ValueError: unknown name (the message lists the valid names) or ambiguous name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"type must be a non-empty string, got {name!r}")
    if category is not None and category not in _BASES:
        raise ValueError(f"unknown component category {category!r}; valid: {sorted(_BASES)}")
    if ":" in name:
        return _check_class(_import_path(name), name, category)
    key = name.lower()
    for k in GPYTORCH_KERNELS:
        if k.lower() == key and category in (None, "Kernel"):
            import gpytorch

            return getattr(gpytorch.kernels, k)
    reg = registry()
    cats = list(reg) if category is None else [category]
    hits = [(c, reg[c][key]) for c in cats if key in reg[c]]
    classes = {cls for _, cls in hits}
    if len(classes) == 1:
        return hits[0][1]
    if len(classes) > 1:
        raise ValueError(
            f"type {name!r} is ambiguous: {[f'{c}: {cls.__module__}' for c, cls in hits]}; "
            "use 'module.path:ClassName'"
        )
    valid = available(category) if category is not None else available()
    flat = [n for names in valid.values() for n in names]
    close = difflib.get_close_matches(name, flat, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    what = f"{category} type" if category else "type"
    listing = "; ".join(f"{c}: {', '.join(ns) or '-'}" for c, ns in valid.items())
    broken = f"; modules that failed to import: {sorted(_import_errors)}" if _import_errors else ""
    raise ValueError(
        f"unknown {what} {name!r}{hint}. Valid names: {listing}{broken}. A class of your own "
        "can be named 'module.path:ClassName'"
    )


def accepted_parameters(cls: type) -> tuple[list[str], list[str], bool]:
    """``(all keyword parameters, required parameters, accepts **kwargs)`` of a constructor."""
    target = cls.__init__ if inspect.isclass(cls) else cls
    sig = inspect.signature(target)
    names, required, var_kw = [], [], False
    for p in sig.parameters.values():
        if p.name == "self" or p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        names.append(p.name)
        if p.default is p.empty:
            required.append(p.name)
    return names, required, var_kw


def is_spec(obj: Any) -> bool:
    """Whether ``obj`` is a mapping with a ``type`` key (a buildable spec)."""
    return isinstance(obj, Mapping) and "type" in obj


def _build_value(value: Any, where: str) -> Any:
    if is_spec(value):
        return build(value, _where=where)
    if isinstance(value, Mapping):
        return {k: _build_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_build_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def build(
    spec: Mapping[str, Any], *, category: str | None = None, _where: str = "", **overrides: Any
) -> Any:
    """Builds an object from ``{"type": name, **kwargs}``, nested specs first.

    Args:
        spec: the spec.
        category: restrict the lookup of ``type`` to one category (``"Likelihood"``, ...).
        **overrides: keyword arguments added to (and overriding) the spec's, already objects
            (e.g. ``likelihoods=`` built from the data by the command line).

    Raises:
        ValueError: unknown type (lists valid names), unknown keyword (lists the accepted
            parameters), missing required keyword, or a constructor error (with the spec's path).
    """
    if not is_spec(spec):
        raise ValueError(f"{_where or 'spec'} must be a mapping with a 'type' key, got {spec!r}")
    where = _where or str(spec["type"])
    cls = resolve(spec["type"], category)
    kwargs = {k: _build_value(v, f"{where}.{k}") for k, v in spec.items() if k != "type"}
    kwargs.update(overrides)
    names, required, var_kw = accepted_parameters(cls)
    unknown = [k for k in kwargs if k not in names]
    if unknown and not var_kw:
        raise ValueError(
            f"{where}: {cls.__name__} got unknown parameter(s) {unknown}; it accepts {names}"
        )
    missing = [k for k in required if k not in kwargs]
    if missing:
        raise ValueError(
            f"{where}: {cls.__name__} needs parameter(s) {missing}; it accepts {names}"
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: building {cls.__name__} failed: {err}") from err


__all__ = [
    "GPYTORCH_KERNELS",
    "SEARCH_PACKAGES",
    "TRUSTED_ROOTS",
    "accepted_parameters",
    "available",
    "base_class",
    "build",
    "is_spec",
    "registry",
    "resolve",
    "restricted_imports",
]
