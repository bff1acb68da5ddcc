"""One registry mechanism for every kind of plugin (tasks, selectors, backends).

Three ways in, one lookup:
  * a decorator, `@SELECTORS.register("majority")`, for code already imported;
  * a lazy entry, `SELECTORS.add_lazy("genselect", "harness.selectors.genselect:GenSelect")`,
    so that listing plugins or printing `--help` never imports torch or transformers;
  * packages, through the Python entry-point group named by the registry (`harness.tasks`,
    `harness.selectors`, `harness.backends`, `harness.commands`), read on first lookup. This
    project's own built-ins come this way too (pyproject.toml; origin "builtin"), and are read
    from pyproject.toml when the checkout is not installed.

Unknown names raise UnknownPluginError with close matches and the full list of names.

Summaries (`python -m harness list`) are the first line of each entry's docstring, or its
`SUMMARY` string attribute, read from the module's source without importing it, so that listing
never pulls in numpy or torch; an entry that is already loaded answers from the object itself.
"""

from __future__ import annotations

import ast
import difflib
import importlib
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

from harness.errors import PluginError

T = TypeVar("T")


class UnknownPluginError(PluginError, KeyError):
    """Raised for a name that no plugin registered; the message lists the alternatives."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:attr", or "<object>" for decorator registrations
    origin: str  # "builtin", "decorator" or "entry-point:<distribution>"
    summary: str = ""


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points_read = False

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, summary: str = "") -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            self._check_new(name, "<object>")
            target = f"{obj.__module__}:{obj.__qualname__}"  # type: ignore[attr-defined]
            self._entries[name] = Entry(name, target, "decorator",
                                        summary or _first_line(obj.__doc__))
            self._loaded[name] = obj
            return obj

        return decorate

    def add_lazy(self, name: str, target: str, summary: str = "", origin: str = "builtin") -> None:
        if ":" not in target:
            raise ValueError(f"lazy {self.kind} entry {name!r} must look like 'module:attr', got {target!r}")
        self._check_new(name, target)
        self._entries[name] = Entry(name, target, origin, summary)

    def _check_new(self, name: str, target: str) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing.target != target:
            raise ValueError(f"{self.kind} {name!r} is already registered by {existing.target}")

    # -- lookup -------------------------------------------------------------------------
    def get(self, name: str) -> T:
        self._read_entry_points()
        if name not in self._entries:
            raise UnknownPluginError(self._unknown_message(name))
        if name not in self._loaded:
            target = self._entries[name].target
            module_name, attr = target.split(":", 1)
            try:
                obj = importlib.import_module(module_name)
                for part in attr.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as exc:
                missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
                if missing and not (module_name == missing or module_name.startswith(missing + ".")):
                    raise  # the plugin exists but one of its own imports failed: that error says which
                raise PluginError(f"{self.kind} {name!r} points at {target}, which cannot be loaded "
                                  f"({type(exc).__name__}: {exc}). Reinstall the package that provides it "
                                  "(pip install -e . for the built-ins)") from exc
            self._loaded[name] = obj  # type: ignore[assignment]
        return self._loaded[name]

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        """Every entry with its summary (read statically: nothing is imported)."""
        self._read_entry_points()
        for name in sorted(self._entries):
            entry = self._entries[name]
            if not entry.summary:
                entry = self._entries[name] = replace(entry, summary=self._summary(name, entry))
            yield entry

    def _summary(self, name: str, entry: Entry) -> str:
        if name in self._loaded:
            return object_summary(self._loaded[name])
        return static_summary(entry.target)

    def __contains__(self, name: str) -> bool:
        self._read_entry_points()
        return name in self._entries

    def _unknown_message(self, name: str) -> str:
        names = sorted(self._entries)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Available {self.kind}s: {', '.join(names) or '(none)'}"

    def _read_entry_points(self) -> None:
        # Read lazily: entry-point discovery scans site-packages metadata (tens of ms).
        if self._entry_points_read:
            return
        self._entry_points_read = True
        found = [(ep.dist.name if ep.dist is not None else "unknown", ep)
                 for ep in metadata.entry_points(group=self.group)]
        found.sort(key=lambda item: item[0] != BUILTIN_DISTRIBUTION)  # the built-ins first
        own = any(dist == BUILTIN_DISTRIBUTION for dist, _ in found)
        for dist, ep in found:
            if ep.name in self._entries:
                continue  # earlier entries win: a plugin cannot silently replace a built-in
            origin = "builtin" if dist == BUILTIN_DISTRIBUTION else f"entry-point:{dist}"
            self._entries[ep.name] = Entry(ep.name, ep.value.split("[")[0].strip(), origin)
        if not own:
            # Not installed (a bare source checkout on sys.path): the built-ins from pyproject.toml.
            for name, value in source_tree_entry_points(self.group).items():
                self._entries.setdefault(name, Entry(name, value, "builtin"))


BUILTIN_DISTRIBUTION = "harness"  # this project's own entry points are its built-ins


def source_tree_entry_points(group: str) -> dict[str, str]:
    """The entry points of `group` declared in this checkout's pyproject.toml ({} if none)."""
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python 3.10: the fallback needs tomllib; an installed package does not
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    project = data.get("project") or {}
    if project.get("name") != BUILTIN_DISTRIBUTION:
        return {}
    return {str(k): str(v) for k, v in ((project.get("entry-points") or {}).get(group) or {}).items()}


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if doc and doc.strip() else ""


def object_summary(obj: object) -> str:
    """A loaded plugin's summary: its SUMMARY string, else the first line of its docstring."""
    summary = getattr(obj, "SUMMARY", None)
    return summary if isinstance(summary, str) else _first_line(getattr(obj, "__doc__", None))


def _module_file(module_name: str) -> str | None:
    """Where a module's source is, found without executing it or its parent packages
    (importlib.util.find_spec would import the parents)."""
    import sys

    path, spec = None, None
    parts = module_name.split(".")
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        loaded = sys.modules.get(name)
        spec = getattr(loaded, "__spec__", None) if loaded is not None else None
        if spec is None:
            for finder in sys.meta_path:
                try:
                    spec = finder.find_spec(name, path) if hasattr(finder, "find_spec") else None
                except (ImportError, ValueError, AttributeError, TypeError):
                    spec = None
                if spec is not None:
                    break
        if spec is None:
            return None
        path = spec.submodule_search_locations
    return spec.origin if spec is not None else None


def static_summary(target: str) -> str:
    """The summary of a 'module:attr' target, read from the module's source without running it.

    Finds a top-level class or function `attr` and returns its SUMMARY string (a literal class
    attribute) or the first line of its docstring; "" when the source is not available.
    """
    module_name, _, attr = target.partition(":")
    origin = _module_file(module_name)
    if not origin or not origin.endswith(".py"):
        return ""
    try:
        with open(origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), origin)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    head = attr.split(".")[0]
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == head:
            for item in node.body if isinstance(node, ast.ClassDef) else ():
                if isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SUMMARY"
                                                        for t in item.targets) \
                        and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str):
                    return item.value.value
            return _first_line(ast.get_docstring(node))
    return ""
