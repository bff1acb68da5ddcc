"""Run and compare configurations, validated in full before any data or model is loaded.

The pydantic models are the one source of every option: its name, type, default and help text
(each field's `description`). The CLI generates the `run` and `compare` flags from them
(`foo_bar` -> `--foo-bar`, see harness.cli), and `load_config` fills a model from, highest
precedence first: explicit values (CLI flags), environment variables `HARNESS_<FIELD>`, a
YAML file of field values (`--config run.yaml`), then the field defaults. A validation failure
becomes one ConfigError with one line per field that names the flag and what to give.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import ConfigError

ENV_PREFIX = "HARNESS_"


def _field(default: Any, description: str, *flags: str, group: str | None = None, cli: bool = True,
           **constraints: Any) -> Any:
    """A model field with its help text and CLI metadata: its own flag names (default
    `--field-name`), the help group it is listed under, and whether it gets a flag at all."""
    extra: dict[str, Any] = {"cli": cli}
    if flags:
        extra["flags"] = list(flags)
    if group:
        extra["group"] = group
    return Field(default, description=description, json_schema_extra=extra, **constraints)


LLM = "LLM selectors (genselect, usc, rl-genselect)"
GEN = "generation (fills whatever the pool lacks; nothing is generated when it is complete)"
EST = "estimation"


class SelectionConfig(BaseModel):
    """What `run` and `compare` share: the task, the selectors, their judge and the estimator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = _field(..., "task name (see `python -m harness list`), e.g. math_l5 or arith:level=mul1,n=30")
    selectors: tuple[str, ...] = _field(..., "one selector or a comma list, e.g. first,majority,oracle",
                                        "--selectors", "--selector", min_length=1)
    # LLM selectors (genselect, usc, rl-genselect)
    judge_model: str | None = _field(None, "judge model of the prompted LLM selectors (genselect, usc; "
                                           "default: the generator)", group=LLM)
    checkpoint: str | None = _field(None, "rl-genselect's trained judge: a checkpoint name or folder "
                                          "(default: the newest, local or shipped; `python -m harness "
                                          "checkpoints`)",
                                    group=LLM)
    judge_backend: str = _field("hf", "backend of the judge model (hf, vllm, openai, llamacpp)", group=LLM)
    judge_max_tokens: int | None = _field(None, "judge response budget in tokens", group=LLM, ge=1)
    judge_temperature: float = _field(0.6, "judge sampling temperature", group=LLM)
    llm_draws: int = _field(4, "selections per problem and N for LLM selectors (subset mode)",
                            group=LLM, ge=1)
    window: int = _field(8, "candidates per judge prompt; more => knockout tournament", group=LLM, ge=2)
    tournament_repeats: int = _field(1, "knockouts per selection under random permutations, majority over "
                                        "winners (N > window; GenSelect: 32)", group=LLM, ge=1)
    judge_chunk: int | None = _field(None, "judge requests handed to the backend at once (cache written "
                                           "after each); default 16 for CPU backends (hf, llamacpp), 1024 "
                                           "otherwise", group=LLM, ge=1)
    # Estimation
    ns: tuple[int, ...] | None = _field(None, "candidate counts, e.g. 1,2,4,8 or 1-12 (default: powers of "
                                              "two up to the pool size, plus the size)", "--n", group=EST)
    paper: bool = _field(False, "the paper protocol: fixed first N (default 8), fractional ties, mean over "
                                "runs", group=EST)
    paper_runs: int = _field(8, "runs averaged by the paper protocol", group=EST, ge=1)
    protocol: Literal["harness", "nemo-skills"] | None = _field(
        None, "selection rules (majority's answer strings, judge parse, long candidates, skipping): "
              "default nemo-skills with --paper, harness otherwise", group=EST)
    draws: int = _field(2000, "random subsets per problem and N when no exact method applies",
                        group=EST, ge=1)
    seed: int = _field(0, "seed of the subset draws (the same subsets for every selector)", group=EST)
    max_enumerate: int = _field(5000, "enumerate every subset when there are at most this many",
                                group=EST, ge=1)
    tie_credit: Literal["fractional", "draw"] = _field(
        "fractional", "fractional: expected credit over tied picks (exact); draw: one seeded pick", group=EST)
    resamples: int = _field(10_000, "bootstrap resamples over problems for the CIs", group=EST, ge=100)
    max_grader_error_rate: float = _field(0.02, "refuse to report when more candidates than this share could "
                                                "not be graded", group=EST, ge=0.0, le=1.0)
    # Data and grading
    workers: int = _field(0, "grading processes (0 = all cores)", ge=0)
    hub_id: str | None = _field(None, "override the task's hub dataset id (or a local dataset path)")
    limit: int | None = _field(None, "only the first K problems of the task (quick studies)", ge=1)
    progress: bool = _field(True, "progress bars on stderr (the CLI's --quiet turns them off)", cli=False)

    @field_validator("ns")
    @classmethod
    def _positive_sorted(cls, value):
        if value is None:
            return value
        if any(n < 1 for n in value):
            raise ValueError(f"every N must be >= 1, got {list(value)}")
        return tuple(sorted(set(value)))

    @field_validator("selectors")
    @classmethod
    def _known_selectors(cls, value):
        from harness.plugins import SELECTORS

        for name in value:
            SELECTORS.get(name)  # raises UnknownPluginError with did-you-mean
        return value

    @field_validator("task")
    @classmethod
    def _known_task(cls, value):
        from harness.plugins import TASKS

        TASKS.get(value.partition(":")[0])
        return value


class RunConfig(SelectionConfig):
    """`python -m harness run`: one pool (existing, or generated with --model), every selector."""

    pool: str | None = _field(None, "pool: <task>/<slug>[/<key>], a unique prefix of a slug, the generator's "
                                    "model name, a key prefix or a path (or give --model to use/generate the "
                                    "pool of that model)")
    shard: str | None = _field(None, "grade and judge only shard I/K of the problems (0-based, e.g. "
                                     "$SLURM_ARRAY_TASK_ID/8) into cache files of their own, and write no "
                                     "record: a last run without --shard finds it all cached and scores")
    ray: str | None = _field(None, "grade on a Ray cluster: its address (auto, local, host:port or "
                                   "ray://host:10001); one Ray task per chunk of problems (harness.fanout)")
    model: str | None = _field(None, "generator: model preset (smollm2-135m, qwen3-1.7b, ...), hub id or "
                                     "path", group=GEN)
    backend: str = _field("hf", "generation backend (hf, vllm, openai, llamacpp)", group=GEN)
    samples: int | None = _field(None, "candidates per problem (default: the largest --n, or 8)",
                                 group=GEN, ge=1)
    temperature: float | None = _field(None, "sampling temperature (default: the model preset's)", group=GEN)
    max_tokens: int | None = _field(None, "response budget in tokens (default: the preset's)",
                                    group=GEN, ge=1)
    gen_seed: int = _field(0, "base seed of the generator (one seed per candidate)", group=GEN)

    # Neither --pool nor --model is refused by run() itself, where the pool store is known: the
    # error lists the task's pools and the two ways to get one (harness.run.no_pool_message).

    @field_validator("shard")
    @classmethod
    def _shard_spec(cls, value):
        from harness.shards import Shard

        Shard.parse(value)  # raises ConfigError naming the flag
        return value


class CompareConfig(SelectionConfig):
    """`python -m harness compare`: the same selectors on pools from several generators."""

    pools: tuple[str, ...] = _field(..., "comma list of pools (any form --pool accepts), e.g. "
                                         "math_l5/qwen-qwen2.5-7b-instruct,math_l5/google-gemma-2-9b-it",
                                    min_length=2)
    ns: tuple[int, ...] | None = _field(None, "candidate counts, e.g. 1,2,4,8 or 1-12 (default: powers of "
                                              "two up to the smallest pool)", "--n", group=EST)
    at: int | None = _field(None, "N shown in the table (default: the largest common N)", ge=1)
    out: str | None = _field(None, "output PNG (default results/plots/compare_<task>.png)")

    def run_config(self, pool: str) -> RunConfig:
        """The RunConfig of one pool: every shared field, the same seed (hence the same subsets)."""
        shared = {name: getattr(self, name) for name in SelectionConfig.model_fields}
        return RunConfig(pool=pool, **shared)


# -- filling a config from flags, environment and a file ----------------------------------------

def field_flags(model: type[BaseModel], name: str) -> list[str]:
    """The CLI flags of a field: `foo_bar` -> ['--foo-bar'] unless the field names its own."""
    extra = model.model_fields[name].json_schema_extra
    flags = extra.get("flags") if isinstance(extra, dict) else None
    return ([str(flag) for flag in flags] if isinstance(flags, list) and flags
            else ["--" + name.replace("_", "-")])


def cli_fields(model: type[BaseModel]) -> list[str]:
    """Fields that get a generated flag (`progress` is the CLI's --quiet)."""
    return [name for name, info in model.model_fields.items()
            if not isinstance(info.json_schema_extra, dict) or info.json_schema_extra.get("cli", True)]


def field_kind(model: type[BaseModel], name: str) -> tuple[str, Any]:
    """('bool' | 'ints' | 'strs' | 'choice' | 'int' | 'float' | 'str', extra) for a field's type."""
    annotation = model.model_fields[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return "bool", None
    if origin is tuple:
        element = typing.get_args(annotation)[0]
        return ("ints" if element is int else "strs"), None
    if origin is Literal:
        return "choice", typing.get_args(annotation)
    if annotation in (int, float):
        return annotation.__name__, None
    return "str", None


def parse_text(model: type[BaseModel], name: str, text: str) -> Any:
    """A field value from text (a flag, an environment variable): comma lists become tuples."""
    kind, _ = field_kind(model, name)
    if kind == "ints":
        try:
            return parse_ns(text)
        except ValueError:
            raise ConfigError(f"{field_flags(model, name)[0]}: expected integers like 1,2,4 or 1-8, "
                              f"got {text!r}") from None
    if kind == "strs":
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text  # pydantic converts numbers and booleans (lax mode) and reports what is wrong


def _key_names(model: type[BaseModel]) -> dict[str, str]:
    """Every spelling a config-file key may use -> the field: foo_bar, foo-bar and flag aliases."""
    names = {}
    for name in model.model_fields:
        names[name] = name
        names[name.replace("_", "-")] = name
        for flag in field_flags(model, name):
            names[flag.lstrip("-")] = name
            names[flag.lstrip("-").replace("-", "_")] = name
    return names


def options_from_mapping(cls: Any, data: Mapping[str, Any] | None, section: str) -> Any:
    """A frozen options dataclass from a config section; an unknown key is a ConfigError that
    names the section and the known keys."""
    values = dict(data or {})
    known = sorted(cls.__dataclass_fields__)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown {section} option(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return cls(**values)


def read_yaml_mapping(source: Path, label: str, error: type[ConfigError] = ConfigError) -> dict[Any, Any]:
    """A YAML (or JSON) file that must hold a mapping; anything else is `error`, named by `label`.
    Shared by run/compare config files and training configs."""
    import yaml

    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise error(f"{label}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise error(f"{label}: expected a mapping of key: value, got {type(raw).__name__}")
    return raw


def read_config_file(model: type[BaseModel], path: str | os.PathLike) -> dict[str, Any]:
    """Field values from a YAML (or JSON) mapping; unknown keys are refused with the valid ones."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"--config: no such file {source}")
    raw = read_yaml_mapping(source, f"--config {source}")
    keys = _key_names(model)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = keys.get(str(key))
        if name is None:
            raise ConfigError(f"--config {source}: unknown key {key!r}; "
                              f"valid keys: {', '.join(model.model_fields)}")
        values[name] = parse_text(model, name, value) if isinstance(value, str) else value
    return values


def env_values(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Field values from HARNESS_<FIELD> environment variables (e.g. HARNESS_DRAWS=500)."""
    environ = os.environ if environ is None else environ
    out = {}
    for name in model.model_fields:
        key = ENV_PREFIX + name.upper()
        if environ.get(key, "") != "":
            out[name] = parse_text(model, name, environ[key])
    return out


def load_config(model: type[BaseModel], values: Mapping[str, Any] | None = None, *,
                config_file: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None):
    """Build `model` from explicit values > HARNESS_<FIELD> variables > config file > defaults."""
    sources: dict[str, str] = {}
    merged: dict[str, Any] = {}
    if config_file is not None:
        for name, value in read_config_file(model, config_file).items():
            merged[name], sources[name] = value, f"{config_file}"
    for name, value in env_values(model, environ).items():
        merged[name], sources[name] = value, ENV_PREFIX + name.upper()
    for name, value in (values or {}).items():
        merged[name] = value
        sources.pop(name, None)
    return build_config(model, merged, sources)


def build_config(model: type[BaseModel], values: Mapping[str, Any], sources: Mapping[str, str] | None = None):
    """`model(**values)`, with a ValidationError turned into a ConfigError naming each flag."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise config_error(model, exc, sources or {}) from None


def config_error(model: type[BaseModel], exc: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    """One line per field: `--flag: what is wrong, and what to give`."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [part for part in err.get("loc", ()) if isinstance(part, str)]
        ctx = err.get("ctx") or {}
        fields = list(ctx.get("fields") or loc[:1])
        where = " or ".join(field_flags(model, f)[0] if f in model.model_fields else f"--{f}" for f in fields)
        origin = ", ".join(f"from {sources[f]}" for f in fields if f in sources)
        label = f"{where} ({origin})" if origin else where
        detail = _explain(model, dict(err), fields)
        lines.append(f"{label}: {detail}" if label else detail)
    return ConfigError("\n".join(dict.fromkeys(lines)))


def _explain(model: type[BaseModel], err: dict, fields: list[str]) -> str:
    kind, ctx, given = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    flag = field_flags(model, fields[0])[0] if fields and fields[0] in model.model_fields else ""
    if kind == "missing":
        return f"required: give {flag} {_metavar(model, fields[0])}".rstrip()
    if kind == "extra_forbidden":
        return f"unknown option; valid: {', '.join(field_flags(model, f)[0] for f in cli_fields(model))}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">",
              "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"must be {op} {bound}, got {given!r}"
    if kind == "too_short":
        return f"give at least {ctx.get('min_length', 1)} value(s) as a comma list, got {given!r}"
    if kind.startswith("int_"):
        return f"must be an integer, got {given!r}"
    if kind.startswith("float_"):
        return f"must be a number, got {given!r}"
    if kind.startswith("bool_"):
        return f"must be true or false, got {given!r}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}, got {given!r}"
    message = str(err.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _metavar(model: type[BaseModel], name: str) -> str:
    kind, choices = field_kind(model, name)
    return {"ints": "N,N,...", "strs": "A,B,...", "int": "INT", "float": "X", "bool": ""}.get(
        kind, "{" + ",".join(choices) + "}" if kind == "choice" else name.upper())


# -- N lists -------------------------------------------------------------------------------------

def default_ns(pool_size: int) -> tuple[int, ...]:
    ns = [1]
    while ns[-1] * 2 <= pool_size:
        ns.append(ns[-1] * 2)
    if ns[-1] != pool_size:
        ns.append(pool_size)
    return tuple(ns)


def parse_ns(text: str) -> tuple[int, ...]:
    """'1,2,4,8' or '1-12' or '1,2,4-8' -> a tuple of ints."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return tuple(out)
