"""The training config as typed pydantic models that refuse an unknown key at any depth.

    TrainConfig
      name, base_model, dtype, notes
      data: DataSection
        dataset | pools: [PoolSection {task, generate: GenerateSection | pool, limit}]
        build: BuildSection (= trainers.selection_data.BuildOptions), eval_tasks, token_counter
      warmup: WarmupSection (= trainers.format_warmup.WarmupOptions)
      lora: LoraSection (= trainers.lora.LoraOptions): train and save an adapter, not the whole model
      dapo: DapoSection {..., dynamic_sampling: DynamicSampling, overlong: Overlong}
      checkpoint: CheckpointSection {max_tokens}

Every model has extra="forbid"; `validate_train_config` turns a ValidationError into one
TrainConfigError line per problem, naming the dotted path of the key (`dapo.dynamic_sampling.enabel`)
and, for an unknown key, the valid keys at that level. Each default is defined once: the
`dapo:` section in trainers.dapo_config.DapoSection (DAPO_DEFAULTS is its dump), `data.build`
and `warmup` by the BuildOptions / WarmupOptions dataclasses these models are made from.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from trainers.dapo_config import DapoSection
from trainers.format_warmup import WarmupOptions
from trainers.lora import LoraOptions
from trainers.selection_data import BuildOptions

_STRICT = ConfigDict(extra="forbid")


class _Section(BaseModel):
    model_config = _STRICT


def model_from_dataclass(name: str, cls: type) -> type[BaseModel]:
    """A forbid-extra pydantic model with the fields, types and defaults of a dataclass."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = Field(default_factory=f.default_factory)  # type: ignore[misc]
        else:
            default = ...
        fields[f.name] = (hints[f.name], default)
    return create_model(name, __config__=_STRICT, __doc__=cls.__doc__, **fields)


BuildSection = model_from_dataclass("BuildSection", BuildOptions)
WarmupSection = model_from_dataclass("WarmupSection", WarmupOptions)
LoraSection = model_from_dataclass("LoraSection", LoraOptions)


class GenerateSection(_Section):
    """`generate:` of a data pool: the fields of harness.generate.GenerationConfig."""

    model: str
    backend: str = "hf"
    n: int = Field(8, ge=1)
    seed: int = 0
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = Field(None, ge=1)
    backend_options: dict[str, Any] = Field(default_factory=dict)
    chunk: int = Field(32, ge=1)


class PoolSection(_Section):
    task: str
    generate: GenerateSection | None = None
    pool: str | None = None
    limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.generate is None) == (self.pool is None):
            raise ValueError("give exactly one of `generate` (make the pool) or `pool` (an existing one)")
        return self


class DataSection(_Section):
    dataset: str | None = None
    pools: list[PoolSection] | None = None
    build: BuildSection | None = None  # type: ignore[valid-type]
    eval_tasks: list[str] | None = None
    token_counter: Literal["judge", "chars"] = "judge"

    @model_validator(mode="after")
    def _some_data(self):
        if not self.dataset and not self.pools:
            raise ValueError("data needs a prebuilt `dataset` or a list of `pools`")
        return self


class CheckpointSection(_Section):
    max_tokens: int | None = Field(None, ge=1)  # rl-genselect's judge budget (default: max_completion_length)


class TrainConfig(_Section):
    name: str = Field(min_length=1)  # checkpoint name prefix
    base_model: str = Field(min_length=1)  # preset name, hub id or local folder
    dtype: str | None = None
    data: DataSection
    warmup: WarmupSection | None = None  # type: ignore[valid-type]
    lora: LoraSection | None = None  # type: ignore[valid-type]
    dapo: DapoSection = Field(default_factory=DapoSection)
    checkpoint: CheckpointSection | None = None
    notes: Any = None


def dotted(loc: typing.Sequence[Any]) -> str:
    """('data', 'pools', 0, 'generate', 'n') -> 'data.pools[0].generate.n'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: typing.Sequence[Any]) -> type[BaseModel] | None:
    """The model class that holds the last key of `loc` (None if the path leaves the models)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        is_model = isinstance(current, type) and issubclass(current, BaseModel)
        if not is_model or part not in current.model_fields:
            return None
        current = _unwrap(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The model inside Optional[...] / list[...] annotations."""
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = typing.get_args(arg)
        for sub in inner:
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                return sub
    return annotation


def error_lines(exc: ValidationError, model: type[BaseModel] = TrainConfig) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        path = dotted(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = ", ".join(parent.model_fields) if parent is not None else "?"
            where = f" in {dotted(loc[:-1])}" if loc[:-1] else ""
            lines.append(f"unknown key {path!r}{where}; valid keys: {valid}")
        elif err["type"] == "missing":
            lines.append(f"{path}: missing (required)")
        else:
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            given = err.get("input")
            shown = "" if isinstance(given, (dict, list)) else f" (got {given!r})"
            lines.append(f"{path}: {message}{shown}")
    return lines


def validate_train_config(raw: Mapping[str, Any], source: str) -> TrainConfig:
    """The typed config, or a TrainConfigError naming every bad key by its dotted path."""
    from trainers.train import TrainConfigError

    try:
        return TrainConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise TrainConfigError("\n".join(f"{source}: {line}" for line in error_lines(exc))) from None


