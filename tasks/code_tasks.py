"""Code tasks: LiveCodeBench (stdin + LeetCode-style functional problems) and HumanEval.

livecodebench
  local  <data_dir>/livecodebench/problems.jsonl in LCB's own format (public_test_cases is a
         JSON string; private_test_cases null or LCB's encoding base64 -> zlib -> pickle -> JSON;
         metadata a JSON string with func_name for functional problems).
  hub    livecodebench/code_generation_lite, read as its JSONL data files (test.jsonl,
         test2.jsonl, ...; no loading script): release_vN = files 1..N, vN = file N,
         vA_vB = files A..B. --hub-id may also name a local folder holding those files.
  arguments (comma separated key=value; several values joined with '+'):
         --task livecodebench:release=release_v6,start=2024-08-01,end=2025-05-01
         --task livecodebench:platform=atcoder+leetcode,difficulty=easy+medium
         --task livecodebench:source=hub        (ignore local files)   timeout=6 (s per test)
         --task livecodebench:compare=tolerant  (floats within 1e-6; default compare=lcb)
         --task livecodebench:extract=lenient   (last python block; default extract=lcb)
         Defaults: release_v6 and the paper's v6 window 2024-08-01..2025-05-01 (both ends
         inclusive, on the contest date), every platform and difficulty. The window applies to
         the local file too (all 60 shared problems fall inside it).
  grading by default as LiveCodeBench's official grader, so numbers are comparable with
         published ones: compare=lcb (stripped lines, numbers as exact decimals: "1.0" == "1"
         but "0.30000000000000004" != "0.3"; returned values by ==) and extract=lcb (the lines
         between the last two lines containing ```). compare=tolerant keeps a float tolerance
         for problems whose statement allows an error; extract=lenient takes the last python
         block (see harness/grading/code_extract.py and harness/sandbox/compare.py).
  ids    "lcb-<question_id>" (e.g. lcb-arc184_c, lcb-3604), the same from either source.

humaneval
  local  <data_dir>/humaneval/problems.jsonl (id, problem = prompt, entry_point, test).
  hub    openai_humaneval (split test).
  arguments: completion=body (default: the classic protocol; the prompt is the function head
         and a candidate is the body that continues it, as in the CodeGen pool: program =
         prompt + completion + test + check(entry_point)) or completion=full (an instruction
         prompt; the code is extracted from the answer and the prompt's imports prepended);
         timeout=5 (s for the whole check, the official harness uses 3).

Behaviour inputs (for majority by behaviour, see harness/grading/code_grader.py) are test
INPUTS only: LCB = the public tests' inputs plus the statement's sample inputs ("Sample Input
k" blocks; LeetCode "Input: a = 1, b = [2]" lines converted to one JSON value per line).
HumanEval = every call `candidate(<args>)` in the test code and `entry_point(<args>)` in the
prompt's >>> examples whose arguments are literals (no variable names), in order, deduplicated;
calls inside loops over computed values are skipped (problems left with none fall back to
clustering identical programs).
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.grading.code_extract import EXTRACT_RULES
from harness.grading.code_grader import CodeGrader
from harness.grading.code_types import CodeTest, CodeTestsError, Completion, HumanEvalTests, LcbTests
from harness.sandbox.compare import COMPARE_MODES
from harness.settings import Settings
from harness.task import TaskDataError
from harness.types import Problem, Reference, stable_hash
from tasks.sources import load_rows, read_hub

CODE_TASK_VERSION = "1"
LCB_HUB_ID = "livecodebench/code_generation_lite"
HUMANEVAL_HUB_ID = "openai_humaneval"
LCB_FILES = ["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, 7)]
V6_WINDOW = ("2024-08-01", "2025-05-01")

LCB_PROMPT_V1 = (
    "You are an expert Python programmer. Solve the programming problem below with a correct and "
    "efficient Python 3 program that passes all tests.\n\n### Problem\n{statement}\n\n### Format\n{fmt}\n\n"
    "### Answer (a single ```python code block)\n")
LCB_STDIN_FMT = ("Read the input from standard input and write the answer to standard output. Do not test "
                 "on the sample inputs yourself. Put the whole program in one block:\n"
                 "```python\n# your code\n```")
LCB_FUNCTIONAL_FMT = ("Complete the starter code below (keep the class and method names) and put the "
                      "whole solution in one block:\n```python\n{starter}\n```")
HUMANEVAL_FULL_PROMPT_V1 = (
    "Complete the following Python function. Answer with the complete function (signature included) "
    "in a single ```python code block.\n\n```python\n{prompt}```\n")


def parse_args(arg: str | None, known: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (arg or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise TaskDataError(f"bad task argument {part!r}: expected key=value with key in {sorted(known)}")
        out[key] = value.strip()
    return out


# -- LiveCodeBench ----------------------------------------------------------------------------
class _StrOnly(pickle.Unpickler):
    def find_class(self, module, name):  # the payload is a JSON string: no object may be built
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from test data")


def decode_private_tests(raw: Any) -> list[dict]:
    """LCB private tests: null, a JSON string, or base64(zlib(pickle(JSON string)))."""
    if raw in (None, "", []):
        return []
    if isinstance(raw, list):
        return raw
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        pass
    payload = _StrOnly(io.BytesIO(zlib.decompress(base64.b64decode(raw)))).load()
    return json.loads(payload)


def _json_field(value: Any, default: Any) -> Any:
    if value in (None, ""):
        return default
    return json.loads(value) if isinstance(value, str) else value


def lcb_files(release: str) -> list[str]:
    m = re.fullmatch(r"release_v(\d+)|v(\d+)(?:_v(\d+))?|release_latest", release)
    if not m:
        raise TaskDataError(f"unknown LiveCodeBench release {release!r} (release_vN, vN or vA_vB)")
    if release == "release_latest":
        return list(LCB_FILES)
    if m.group(1):
        return LCB_FILES[:int(m.group(1))]
    lo, hi = int(m.group(2)), int(m.group(3) or m.group(2))
    return LCB_FILES[lo - 1:hi]


def sample_inputs(statement: str, functional: bool) -> list[str]:
    """Sample inputs written in the statement (AtCoder blocks, LeetCode "Input:" lines)."""
    if not functional:
        blocks = re.findall(r"Sample Input \d+\s*\n(.*?)\n\s*Sample Output \d+", statement, re.DOTALL)
        return [b.strip("\n") + "\n" for b in blocks if b.strip()]
    out = []
    for line in re.findall(r"Input:\s*(.+)", statement):
        values = []
        for part in re.split(r",\s*(?=[A-Za-z_]\w*\s*=)", line.strip()):
            _, sep, value = part.partition("=")
            try:
                if not sep:
                    raise ValueError(part)
                values.append(json.dumps(_literal(value.strip())))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                values = []
                break
        if values:
            out.append("\n".join(values))
    return out


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return ast.literal_eval(text.replace("true", "True").replace("false", "False")
                                .replace("null", "None"))


def _same_input(a: str, b: str, functional: bool) -> bool:
    if functional:
        try:
            return ([json.loads(x) for x in a.split("\n") if x.strip()]
                    == [json.loads(x) for x in b.split("\n") if x.strip()])
        except json.JSONDecodeError:
            return False
    return a.split() == b.split()


@dataclass
class LiveCodeBenchTask:
    settings: Settings
    hub_id: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    name: str = "livecodebench"
    kind: str = "code"
    source: str = "unloaded"
    _rows: list[dict] | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return f"{CODE_TASK_VERSION}-lcbp1-{self.grader().version}"

    def _load(self) -> list[dict]:
        if self._rows is not None:
            return self._rows
        opts = self.options
        release = opts.get("release", "release_v6")
        loaded = load_rows(self.name, self.settings, subdir="livecodebench", hub_id=self.hub_id,
                           default_hub_id=LCB_HUB_ID, use_hub=opts.get("source") == "hub",
                           hub_reader=lambda hub_id: self._read_hub(hub_id, release))
        raw, self.source = loaded.rows, loaded.source
        start, end = opts.get("start", V6_WINDOW[0]), opts.get("end", V6_WINDOW[1])
        platforms = set(opts["platform"].split("+")) if opts.get("platform") else None
        levels = set(opts["difficulty"].split("+")) if opts.get("difficulty") else None
        rows = []
        for row in raw:
            date = str(row.get("contest_date", ""))[:10]
            if not (start <= date <= end):
                continue
            if (platforms and row.get("platform") not in platforms
                    or levels and row.get("difficulty") not in levels):
                continue
            rows.append(row)
        if not rows:
            raise TaskDataError(f"{self.source}: no LiveCodeBench problem matches "
                                f"{opts or 'the default window'}")
        self._rows = rows
        return rows

    def _read_hub(self, hub_id: str, release: str) -> tuple[list[dict], str]:
        files = lcb_files(release)
        local = Path(hub_id)
        if local.is_file():
            return read_hub(str(local), "train")
        if local.is_dir():
            paths = [str(local / f) for f in files if (local / f).is_file()]
            if not paths:
                raise TaskDataError(f"{local} holds none of {files}")
        else:
            paths = [f"hf://datasets/{hub_id}/{f}" for f in files]
        try:
            import datasets

            ds = datasets.load_dataset("json", data_files=paths, split="train")
        except Exception as exc:  # network down, files missing...
            raise TaskDataError(f"could not load {hub_id} {release} ({type(exc).__name__}: {exc}). Offline? "
                                "Use --data-dir with livecodebench/problems.jsonl, or "
                                "--hub-id <folder>.") from exc
        return [dict(r) for r in ds], f"hub:{hub_id}@{release}"

    @staticmethod
    def _id(row: dict) -> str:
        return f"lcb-{row['question_id']}"

    @staticmethod
    def _functional(row: dict) -> tuple[bool, str | None]:
        meta = _json_field(row.get("metadata"), {})
        publics = _json_field(row.get("public_test_cases"), [])
        kind = publics[0].get("testtype") if publics else None
        functional = kind == "functional" or (kind is None and bool(meta.get("func_name")))
        return functional, meta.get("func_name")

    def problems(self) -> list[Problem]:
        out = []
        for row in self._load():
            functional, func_name = self._functional(row)
            meta = {k: row.get(k) for k in ("question_title", "platform", "difficulty", "contest_id",
                                            "contest_date", "starter_code", "question_id")}
            meta.update(testtype="functional" if functional else "stdin", func_name=func_name)
            out.append(Problem(id=self._id(row), task=self.name, statement=row["question_content"],
                               metadata=meta))
        return out

    def references(self) -> dict[str, Reference]:
        refs = {}
        for row in self._load():
            functional, func_name = self._functional(row)
            publics = _json_field(row.get("public_test_cases"), [])
            try:
                privates = decode_private_tests(row.get("private_test_cases"))
            except Exception as exc:  # noqa: BLE001 - bad data must not pass silently
                raise TaskDataError(f"{self._id(row)}: cannot decode private_test_cases ({exc})") from exc
            try:
                tests = tuple(CodeTest.from_json(t, f"{self._id(row)}: test {i}")
                              for i, t in enumerate(publics + privates))
            except CodeTestsError as exc:
                raise TaskDataError(str(exc)) from exc
            behaviour = [t["input"] for t in publics]
            for extra in sample_inputs(row["question_content"], functional):
                if not any(_same_input(extra, b, functional) for b in behaviour):
                    behaviour.append(extra)
            refs[self._id(row)] = Reference(problem_id=self._id(row), tests=LcbTests(
                testtype="functional" if functional else "stdin", func_name=func_name, tests=tests,
                behaviour_inputs=tuple(behaviour)))
        return refs

    def grader(self) -> CodeGrader:
        return CodeGrader(timeout_s=float(self.options.get("timeout", 6)),
                          comparison=self.options.get("compare", "lcb"),
                          extraction=self.options.get("extract", "lcb"),
                          isolation_mode=self.settings.sandbox,
                          cache_dir=self.settings.results_dir / "cache" / "exec")

    def prompt(self, problem: Problem) -> str:
        starter = (problem.metadata.get("starter_code") or "").rstrip()
        fmt = LCB_FUNCTIONAL_FMT.format(starter=starter) if starter else LCB_STDIN_FMT
        return LCB_PROMPT_V1.format(statement=problem.statement.strip(), fmt=fmt)

    def fingerprint(self) -> str:
        return stable_hash(sorted(p.id for p in self.problems()), 16)


def livecodebench(settings: Settings, arg: str | None = None, hub_id: str | None = None) -> LiveCodeBenchTask:
    opts = parse_args(arg, {"release", "start", "end", "platform", "difficulty", "source", "timeout",
                            "compare", "extract"})
    if opts.get("compare", "lcb") not in COMPARE_MODES:
        raise TaskDataError(f"livecodebench: compare must be one of {', '.join(COMPARE_MODES)}")
    if opts.get("extract", "lcb") not in EXTRACT_RULES:
        raise TaskDataError(f"livecodebench: extract must be one of {', '.join(EXTRACT_RULES)}")
    return LiveCodeBenchTask(settings, hub_id=hub_id, options=opts)


# -- HumanEval --------------------------------------------------------------------------------
def literal_calls(source: str, func: str) -> list[str]:
    """Argument sources of every call func(...) in `source` whose arguments use no names."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == func):
            continue
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        if any(isinstance(sub, (ast.Name, ast.Lambda, ast.Call, ast.Attribute))
               for a in node.args for sub in ast.walk(a)):
            continue
        parts = [ast.get_source_segment(source, a) for a in node.args]
        if all(p is not None for p in parts):
            out.append((node.lineno, node.col_offset, ", ".join(parts)))  # type: ignore[arg-type]
    return [text for _, _, text in sorted(out)]


def behaviour_calls(prompt: str, test: str, entry_point: str) -> list[str]:
    doc = "\n".join(line.split(">>>", 1)[1].strip() for line in prompt.splitlines() if ">>>" in line)
    calls = literal_calls(test, "candidate") + [c for line in doc.splitlines()
                                                for c in literal_calls(line, entry_point)]
    return list(dict.fromkeys(calls))


@dataclass
class HumanEvalTask:
    settings: Settings
    hub_id: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    name: str = "humaneval"
    kind: str = "code"
    source: str = "unloaded"
    _rows: list[dict] | None = field(default=None, repr=False)

    @property
    def completion(self) -> Completion:
        return cast(Completion, self.options.get("completion", "body"))  # checked by humaneval()

    @property
    def version(self) -> str:
        return f"{CODE_TASK_VERSION}-he{self.completion}1-{self.grader().version}"

    def _load(self) -> list[dict]:
        if self._rows is not None:
            return self._rows
        loaded = load_rows(self.name, self.settings, subdir="humaneval", hub_id=self.hub_id,
                           default_hub_id=HUMANEVAL_HUB_ID, split="test")
        rows, self.source = loaded.rows, loaded.source
        if loaded.from_hub:
            rows = [{"id": r["task_id"], "problem": r["prompt"], "entry_point": r["entry_point"],
                     "test": r["test"], "metadata": {"canonical_solution": r.get("canonical_solution")}}
                    for r in rows]
        for row in rows:
            missing = [k for k in ("id", "problem", "entry_point", "test") if not row.get(k)]
            if missing:
                raise TaskDataError(f"{self.source}: problem {row.get('id', '?')} lacks {', '.join(missing)}")
        self._rows = rows
        return rows

    def problems(self) -> list[Problem]:
        return [Problem(id=r["id"], task=self.name, statement=r["problem"],
                        metadata={"entry_point": r["entry_point"]})
                for r in self._load()]

    def references(self) -> dict[str, Reference]:
        return {r["id"]: Reference(problem_id=r["id"], tests=HumanEvalTests(
            prompt=r["problem"], test=r["test"], entry_point=r["entry_point"], completion=self.completion,
            behaviour_calls=tuple(behaviour_calls(r["problem"], r["test"], r["entry_point"]))))
            for r in self._load()}

    def canonical_solutions(self) -> dict[str, str]:
        """Reference bodies (for tests of the grader; never shown to selectors)."""
        return {r["id"]: (r.get("metadata") or {}).get("canonical_solution") or "" for r in self._load()}

    def grader(self) -> CodeGrader:
        return CodeGrader(timeout_s=float(self.options.get("timeout", 5)),
                          isolation_mode=self.settings.sandbox,
                          cache_dir=self.settings.results_dir / "cache" / "exec")

    def prompt(self, problem: Problem) -> str:
        if self.completion == "body":
            return problem.statement
        return HUMANEVAL_FULL_PROMPT_V1.format(prompt=problem.statement)

    def fingerprint(self) -> str:
        return stable_hash(sorted(p.id for p in self.problems()), 16)


def humaneval(settings: Settings, arg: str | None = None, hub_id: str | None = None) -> HumanEvalTask:
    opts = parse_args(arg, {"completion", "timeout"})
    if opts.get("completion", "body") not in ("body", "full"):
        raise TaskDataError("humaneval: completion must be body or full")
    return HumanEvalTask(settings, hub_id=hub_id, options=opts)
