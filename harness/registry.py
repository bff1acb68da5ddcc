"""One registry mechanism for every kind of plugin (tasks, selectors, backends).

Three ways in, one lookup:
  * a decorator, `@SELECTORS.register("majority")`, for code already imported;
  * a lazy entry, `SELECTORS.add_lazy("genselect", "harness.selectors.genselect:GenSelect")`,
    so that listing plugins or printing `--help` never imports torch or transformers;
  * third-party packages, through the Python entry-point group named by the registry
    (`harness.tasks`, `harness.selectors`, `harness.backends`), read on first lookup.

Unknown names raise UnknownPluginError with close matches and the full list of names.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownPluginError(KeyError):
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
            self._entries[name] = Entry(name, f"{obj.__module__}:{obj.__qualname__}", "decorator",
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
            module_name, attr = self._entries[name].target.split(":", 1)
            obj = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._loaded[name] = obj  # type: ignore[assignment]
        return self._loaded[name]

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        self._read_entry_points()
        for name in sorted(self._entries):
            yield self._entries[name]

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
        for ep in metadata.entry_points(group=self.group):
            dist = ep.dist.name if ep.dist is not None else "unknown"
            if ep.name in self._entries:
                continue  # built-ins win; a plugin cannot silently replace them
            self._entries[ep.name] = Entry(ep.name, ep.value, f"entry-point:{dist}")


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
