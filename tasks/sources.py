"""Reading task problems from a local directory or from the Hugging Face hub.

Local layout (that of shared/data): <data_dir>/<subdir>/problems.jsonl, one JSON object a line.
Hub: `datasets.load_dataset(id, config, split=...)`. The `id` may also be a local path to a
dataset folder or file (parquet/JSON), which is how the hub adapters are tested offline and how
users with a mirrored copy run without network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.settings import DATA_DIR_ENV
from harness.task import TaskDataError


def read_local_jsonl(data_dir: Path, subdir: str) -> tuple[list[dict[str, Any]], str]:
    path = Path(data_dir) / subdir / "problems.jsonl"
    if not path.is_file():
        raise TaskDataError(
            f"no problems file at {path}. Point the task at a folder holding {subdir}/problems.jsonl "
            f"with --data-dir DIR or the {DATA_DIR_ENV} environment variable.")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TaskDataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
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
