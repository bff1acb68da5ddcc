"""Where a task's rows come from: a local data folder or the Hugging Face hub, decided once.

`load_rows` is the one place that makes the choice (every task calls it):
  1. an explicit hub id (`--hub-id`, a hub dataset or a local mirror of one) or `use_hub=True`
     -> the hub;
  2. else `<data_dir>/<subdir>/problems.jsonl` when a data folder is set (Settings.data_dir, from
     --data-dir or HARNESS_DATA_DIR) and holds that file -> the local file;
  3. else the task's default hub dataset;
  4. else a TaskDataError saying how to point at a local folder.

Local layout (that of shared/data): <data_dir>/<subdir>/problems.jsonl, one JSON object a line,
read with harness.jsonl.read_plain (a bad line is an error naming file and line).
Hub: `datasets.load_dataset(id, config, split=...)`. The `id` may also be a local path to a
dataset folder or file (parquet/JSON), which is how the hub adapters are tested offline and how
users with a mirrored copy run without network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.jsonl import JsonlFormatError, read_plain
from harness.settings import DATA_DIR_ENV, Settings
from harness.task import TaskDataError

PROBLEMS_FILE = "problems.jsonl"

# Reads a hub dataset id into (rows, source description); the default is read_hub(id, split, config).
HubReader = Callable[[str], tuple[list[dict[str, Any]], str]]


@dataclass(frozen=True)
class SourceRows:
    """A task's raw rows and where they came from."""

    rows: list[dict[str, Any]]
    """The rows in source order: local rows as written in problems.jsonl, hub rows in the hub's schema."""
    source: str
    """Where they were read: 'local:<path>' or 'hub:<id>' (recorded as the task's `source`)."""
    from_hub: bool
    """True when the rows came from a hub reader (so they still need mapping onto local fields)."""


def local_file(settings: Settings, subdir: str) -> Path | None:
    """<data_dir>/<subdir>/problems.jsonl when a data folder is set and holds that file, else None."""
    data_dir = settings.data_dir
    if data_dir is None:
        return None
    path = Path(data_dir) / subdir / PROBLEMS_FILE
    return path if path.is_file() else None


def load_rows(name: str, settings: Settings, *, subdir: str | None = None, hub_id: str | None = None,
              default_hub_id: str | None = None, split: str = "train", config: str | None = None,
              use_hub: bool = False, hub_reader: HubReader | None = None) -> SourceRows:
    """The rows of task `name` from a local data folder or the hub (the rule in the module doc).

    subdir: the task's folder under the data folder (default: name). hub_id: an explicit hub id
    that overrides local data; default_hub_id: the hub dataset used when no local copy exists.
    hub_reader: reads a hub id (default: read_hub with split and config).
    """
    subdir = subdir or name
    local = local_file(settings, subdir)
    if local is not None and hub_id is None and not use_hub:
        rows, source = read_local_jsonl(Path(settings.data_dir), subdir)  # type: ignore[arg-type]
        return SourceRows(rows, source, from_hub=False)
    dataset = hub_id or default_hub_id
    if dataset is None:
        where = Path(settings.data_dir) / subdir if settings.data_dir else f"<data_dir>/{subdir}"
        raise TaskDataError(
            f"task {name!r} has no hub dataset and no local file at {where}/{PROBLEMS_FILE}. "
            f"Set --data-dir DIR or {DATA_DIR_ENV} to a folder in the layout of shared/data.")
    rows, source = hub_reader(dataset) if hub_reader is not None else read_hub(dataset, split, config)
    return SourceRows(rows, source, from_hub=True)


def read_local_jsonl(data_dir: Path, subdir: str) -> tuple[list[dict[str, Any]], str]:
    path = Path(data_dir) / subdir / PROBLEMS_FILE
    if not path.is_file():
        raise TaskDataError(
            f"no problems file at {path}. Point the task at a folder holding {subdir}/{PROBLEMS_FILE} "
            f"with --data-dir DIR or the {DATA_DIR_ENV} environment variable.")
    try:
        rows = read_plain(path)
    except JsonlFormatError as exc:  # the message names file and line
        raise TaskDataError(str(exc)) from exc
    return rows, f"local:{path}"


def read_hub(dataset_id: str, split: str, config: str | None = None) -> tuple[list[dict[str, Any]], str]:
    try:
        import datasets  # heavy (pyarrow); only imported when a hub source is used
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise TaskDataError("the `datasets` package is needed for hub sources") from exc
    local = Path(dataset_id)
    try:
        if local.is_file():
            kind = "parquet" if local.suffix == ".parquet" else "json"
            ds = datasets.load_dataset(kind, data_files=str(local), split="train")
        else:
            ds = datasets.load_dataset(dataset_id, config, split=split)
    except Exception as exc:  # network down, dataset missing, auth...
        raise TaskDataError(
            f"could not load hub dataset {dataset_id!r} (split {split!r}): {type(exc).__name__}: {exc}. "
            f"Offline? Point the task at local files with --data-dir DIR or {DATA_DIR_ENV}.") from exc
    return [dict(row) for row in ds], f"hub:{dataset_id}"
