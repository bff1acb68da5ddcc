"""Selection tasks for DAPO training, built from graded candidate pools (PAPER.md, training data).

Per problem of a pool:
  1. keep it only if the generator's pass rate is below `max_pass_rate` (0.5) and it has at
     least one correct and one incorrect candidate (grader errors are left out, never counted
     as wrong);
  2. math candidates (kind "math"): a wrong candidate with no extracted answer is dropped
     (`drop_unanswered_wrong`, on); with `require_boxed_answer` (off by default, on in
     paper-math: the CPU configs' arith candidates have no <think> and no \\boxed{}) a
     candidate must also close its <think> if it opened one
     (harness.grading.math_answers.unfinished_thinking) and show exactly one \\boxed{...} in
     its final segment (the text after the last </think>, math_answers.final_segment); the
     problem still needs one correct and one incorrect candidate afterwards;
  3. if correct > incorrect, drop correct candidates down to the number of incorrect ones;
  4. draw up to `tasks_per_problem` (4) tasks: a set size around the middle of
     [2, min(total, 16)] (`draw_set_size`: PAPER.md gives no exact rule, so a symmetric
     discrete Gaussian centred on the middle), the number of correct ones uniform over what
     keeps at least one correct and one incorrect and at most half correct, shuffled; tasks
     showing the same candidate texts (in any order) count once;
  5. render the prompt with GenSelect's own prompt builder and candidate view (so training
     and evaluation prompts are identical) and drop it if it exceeds the token cap;
  6. with `rotate_positions`, emit every cyclic rotation of each drawn set as its own task (the
     set counts once towards `tasks_per_problem`), so
     each correct candidate appears at every position equally often. A judge that always names
     the same position then earns exactly the random rate: position bias carries no reward and
     only reading the candidates does (off by default; the paper shuffles once).

The build prints, and its stats return, the distribution of set sizes and of correct
candidates per set (one count per drawn set, whatever its rotations).

Problems that belong to an evaluation task are refused with an error that names them
(`EvalContaminationError`): the problems of aime24, aime25, hmmt25 and livecodebench (by id and
by normalised statement) and every `arith` problem whose operands fall in the test split.

The dataset is JSONL with a header: one record per task (trainers.tasks_schema.SelectionTask:
the pool key, problem id, the pool indices of the candidates shown, in the order shown, the
correct positions and the prompt), validated row by row when read.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.jsonl import Appender, JsonlFormatError, read_records
from harness.types import Candidate, Grade, Problem, stable_hash
from trainers.eval_guard import EvalGuard
from trainers.tasks_schema import SelectionTask

DATASET_KIND = "selection-tasks"
BUILDER_VERSION = "2"  # 2: math answer filters, symmetric set-size draw, size stats
# -- building tasks --------------------------------------------------------------------------

@dataclass(frozen=True)
class BuildOptions:
    max_pass_rate: float = 0.5  # keep problems whose pass rate is strictly below this
    min_candidates: int = 2
    max_candidates: int = 16
    tasks_per_problem: int = 4
    max_prompt_tokens: int = 16384
    seed: int = 0
    prompt_version: str = "genselect_v1"
    max_chars: int = 3000  # GenSelect's candidate view cap (same default as the selector)
    size_spread: float = 0.25  # sd of the set size as a share of the range [min, hi]
    attempts_per_task: int = 12  # draws allowed per wanted task before giving up (dedupe)
    rotate_positions: bool = False  # each drawn set also in all its cyclic rotations (step 6)
    # math: closed <think> and exactly one \boxed{} in the final segment (step 2; paper-math on)
    require_boxed_answer: bool = False
    drop_unanswered_wrong: bool = True  # math: a wrong candidate with no extracted answer (step 2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "BuildOptions":
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown selection-task option(s): {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**data)


@dataclass
class BuildStats:
    problems: int = 0
    kept_problems: int = 0
    dropped_pass_rate: int = 0
    dropped_no_correct: int = 0
    dropped_no_incorrect: int = 0
    dropped_too_few: int = 0
    tasks: int = 0
    duplicates: int = 0
    dropped_over_cap: int = 0
    grader_errors: int = 0
    # candidates left out by the math filters (step 2)
    dropped_unfinished_thinking: int = 0
    dropped_not_one_boxed: int = 0
    dropped_unanswered_wrong: int = 0
    set_sizes: dict[int, int] = field(default_factory=dict)  # candidates shown -> drawn sets
    correct_per_set: dict[int, int] = field(default_factory=dict)  # correct shown -> drawn sets

    def count_set(self, size: int, n_correct: int) -> None:
        self.set_sizes[size] = self.set_sizes.get(size, 0) + 1
        self.correct_per_set[n_correct] = self.correct_per_set.get(n_correct, 0) + 1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        for key in ("set_sizes", "correct_per_set"):  # JSON keys are strings; sorted by size
            out[key] = {str(k): v for k, v in sorted(out[key].items())}
        return out

    def distribution_line(self) -> str:
        def show(counts: Mapping[int, int]) -> str:
            return " ".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "-"

        return (f"set sizes {{{show(self.set_sizes)}}}; correct per set {{{show(self.correct_per_set)}}}; "
                f"candidates dropped: {self.dropped_unfinished_thinking} unfinished thinking, "
                f"{self.dropped_not_one_boxed} without exactly one \\boxed, "
                f"{self.dropped_unanswered_wrong} wrong with no answer")


def set_size_weights(total: int, opts: BuildOptions) -> dict[int, float]:
    """P(size = k) for k in [lo, hi] = [min_candidates, min(total, max_candidates)].

    PAPER.md says only "drawn around the middle of [2, min(total, 16)]". The rule here: a
    discrete Gaussian centred on the middle m = (lo + hi) / 2 with sd = size_spread x (hi - lo)
    (at least 0.5), restricted to [lo, hi] and renormalised: P(k) ~ exp(-(k - m)^2 / (2 sd^2)).
    It is symmetric (P(lo + j) = P(hi - j)), so the mean size is exactly m, and every size in
    the range can occur. E.g. [2, 16]: m = 9, sd = 3.5, P(9) = 0.118, P(2) = P(16) = 0.016."""
    lo, hi = opts.min_candidates, min(total, opts.max_candidates)
    if hi <= lo:
        return {hi: 1.0}
    mid, sd = (lo + hi) / 2.0, max(opts.size_spread * (hi - lo), 0.5)
    raw = {k: math.exp(-((k - mid) ** 2) / (2.0 * sd * sd)) for k in range(lo, hi + 1)}
    norm = sum(raw.values())
    return {k: w / norm for k, w in raw.items()}


def draw_set_size(rng: random.Random, total: int, opts: BuildOptions) -> int:
    """A set size around the middle of [min_candidates, min(total, max_candidates)] (set_size_weights)."""
    weights = set_size_weights(total, opts)
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def draw_task(rng: random.Random, correct: Sequence[int], wrong: Sequence[int],
              opts: BuildOptions) -> list[int]:
    """Pool indices of one task, shuffled: >= 1 correct, >= 1 incorrect, at most half correct."""
    size = draw_set_size(rng, len(correct) + len(wrong), opts)
    # n_correct in [max(1, size - |wrong|), min(|correct|, size // 2)]: never empty when
    # 1 <= |correct| <= |wrong| and size <= |correct| + |wrong| (see the module docstring).
    low, high = max(1, size - len(wrong)), min(len(correct), size // 2)
    n_correct = rng.randint(low, high)
    chosen = rng.sample(list(correct), n_correct) + rng.sample(list(wrong), size - n_correct)
    rng.shuffle(chosen)
    return chosen


def chars_token_counter(text: str) -> int:
    return (len(text) + 3) // 4


def judge_input_text(tokenizer, prompt: str) -> str:
    """The text the judge reads: its chat template applied with the generation prompt on (when it has one)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt


def tokenizer_counter(tokenizer) -> Callable[[str], int]:
    """Prompt length as the judge will see it: the chat template applied, generation prompt on."""
    def count(prompt: str) -> int:
        return len(tokenizer(judge_input_text(tokenizer, prompt), add_special_tokens=False)["input_ids"])
    return count


def problem_tasks(problem: Problem, candidates: Sequence[Candidate], grades: Sequence[Grade], *, kind: str,
                  opts: BuildOptions, count_tokens: Callable[[str], int], stats: BuildStats,
                  pool_key: str = "", pool_ref: str = "") -> list[SelectionTask]:
    """The selection tasks of one problem (possibly none)."""
    from harness.selectors.genselect import GenSelect, candidate_view

    stats.problems += 1
    by_index = {c.index: c for c in candidates}
    usable = [g for g in grades if g.index in by_index and g.correct is not None]
    stats.grader_errors += sum(1 for g in grades if g.correct is None)
    correct = [g.index for g in usable if g.correct]
    wrong = [g.index for g in usable if not g.correct]
    if not usable:
        stats.dropped_too_few += 1
        return []
    pass_rate = len(correct) / len(usable)  # the generator's, before any candidate filter
    if pass_rate >= opts.max_pass_rate:
        stats.dropped_pass_rate += 1
        return []
    if kind == "math":
        kept = [g for g in usable if _math_candidate_ok(by_index[g.index].text, g, opts, stats)]
        correct = [g.index for g in kept if g.correct]
        wrong = [g.index for g in kept if not g.correct]
    if not correct:
        stats.dropped_no_correct += 1
        return []
    if not wrong:
        stats.dropped_no_incorrect += 1
        return []
    if len(correct) + len(wrong) < opts.min_candidates:
        stats.dropped_too_few += 1
        return []
    seed = int(stable_hash([opts.seed, pool_key, problem.id], 12), 16)
    rng = random.Random(seed)
    if len(correct) > len(wrong):  # at most half correct: drop correct ones down to |wrong|
        correct = sorted(rng.sample(correct, len(wrong)))
    stats.kept_problems += 1
    selector = GenSelect(prompt_version=opts.prompt_version, max_chars=opts.max_chars)
    views = {i: candidate_view(by_index[i].text, kind, opts.max_chars) for i in correct + wrong}
    out: list[SelectionTask] = []
    seen: set[tuple[str, ...]] = set()
    attempts = 0
    kept_sets = 0  # rotations of one set count once towards tasks_per_problem
    while kept_sets < opts.tasks_per_problem and attempts < opts.tasks_per_problem * opts.attempts_per_task:
        attempts += 1
        shown = draw_task(rng, correct, wrong, opts)
        signature = tuple(sorted(views[i] for i in shown))  # same texts in any order = same task
        if signature in seen:
            stats.duplicates += 1
            continue
        seen.add(signature)
        orders = [shown[r:] + shown[:r] for r in range(len(shown))] if opts.rotate_positions else [shown]
        drawn = [_task_record(problem, order, set(correct), selector, views, count_tokens, opts,
                              kind=kind, pass_rate=pass_rate, pool_key=pool_key, pool_ref=pool_ref)
                 for order in orders]
        stats.dropped_over_cap += sum(t is None for t in drawn)
        out.extend(t for t in drawn if t is not None)
        if any(t is not None for t in drawn):
            kept_sets += 1
            stats.count_set(len(shown), sum(1 for i in shown if i in correct))
    stats.tasks += len(out)
    return out


def boxed_count(text: str) -> int:
    """How many \\boxed answers a text holds (each `\\boxed` occurrence counts)."""
    return text.count("\\boxed")


def _math_candidate_ok(text: str, grade: Grade, opts: BuildOptions, stats: BuildStats) -> bool:
    """Step 2 of the module docstring for one graded math candidate (counting what it drops)."""
    from harness.grading.math_answers import final_segment, last_boxed_exact, unfinished_thinking

    if opts.require_boxed_answer:
        if unfinished_thinking(text):
            stats.dropped_unfinished_thinking += 1
            return False
        segment = final_segment(text)
        if boxed_count(segment) != 1 or last_boxed_exact(segment) is None:
            stats.dropped_not_one_boxed += 1
            return False
    if opts.drop_unanswered_wrong and not grade.correct and not (grade.answer or "").strip():
        stats.dropped_unanswered_wrong += 1
        return False
    return True


def _task_record(problem: Problem, shown: list[int], correct: set[int], selector, views: Mapping[int, str],
                 count_tokens: Callable[[str], int], opts: BuildOptions, *, kind: str, pass_rate: float,
                 pool_key: str, pool_ref: str) -> SelectionTask | None:
    """The task for candidates shown in this order, or None when over the token cap."""
    prompt = selector.build_prompt(problem.statement, [views[i] for i in shown])
    tokens = count_tokens(prompt)
    if tokens > opts.max_prompt_tokens:
        return None
    return SelectionTask(
        task_id=stable_hash([pool_key, problem.id, shown], 16),
        pool_key=pool_key, pool_ref=pool_ref, problem_id=problem.id, task=problem.task,
        kind=kind, shown_indices=tuple(shown),
        correct_positions=tuple(pos for pos, i in enumerate(shown) if i in correct),
        n_candidates=len(shown), pass_rate=pass_rate, prompt_tokens=tokens,
        prompt_version=opts.prompt_version, prompt=prompt,
    )


@dataclass
class PoolSource:
    """One graded pool and the task its problems come from."""

    pool: Any  # harness.pools.Pool
    task: Any  # the task object (problems, kind)
    candidates: Mapping[str, Sequence[Candidate]]
    grades: Mapping[str, Sequence[Grade]]


def build_selection_tasks(sources: Sequence[PoolSource], opts: BuildOptions, *,
                          count_tokens: Callable[[str], int] | None = None, guard: EvalGuard | None = None,
                          allow_eval: bool = False) -> tuple[list[SelectionTask], BuildStats]:
    """Tasks from every source. Unless allow_eval (held-out evaluation sets only), every problem
    is checked against the evaluation tasks first and the build stops with an error naming them."""
    count_tokens = count_tokens or chars_token_counter
    if not allow_eval:
        if guard is None:
            raise ValueError("a training build needs an EvalGuard (EvalGuard.load(settings))")
        guard.check(p for src in sources for p in src.task.problems() if p.id in src.candidates)
    stats = BuildStats()
    tasks: list[SelectionTask] = []
    for src in sources:
        problems = {p.id: p for p in src.task.problems()}
        for pid in sorted(src.candidates):
            if pid not in problems or pid not in src.grades:
                continue
            tasks.extend(problem_tasks(problems[pid], src.candidates[pid], src.grades[pid],
                                       kind=src.task.kind, opts=opts, count_tokens=count_tokens,
                                       stats=stats, pool_key=src.pool.key, pool_ref=src.pool.ref))
    print(f"[selection] {stats.tasks} task(s) from {stats.kept_problems} of {stats.problems} problem(s); "
          + stats.distribution_line(), flush=True)
    return tasks, stats


def write_dataset(path: str | Path, tasks: Sequence[SelectionTask], header: Mapping[str, Any]) -> Path:
    """The dataset file: the header line, then one `task.model_dump(mode="json")` object a line."""
    path = Path(path)
    if path.exists():
        path.unlink()  # a dataset is rebuilt whole; the hash in the checkpoint names its content
    with Appender(path, DATASET_KIND, {"builder_version": BUILDER_VERSION, **header}) as out:
        out.write_many(task.model_dump(mode="json") for task in tasks)
    return path


def read_dataset(path: str | Path) -> tuple[dict[str, Any], list[SelectionTask]]:
    """(header, tasks) of a dataset file; a row that is not a valid task is a JsonlFormatError
    (a DataError) naming the file and line."""
    header, rows = read_records(Path(path), DATASET_KIND)
    tasks = []
    for row in rows:
        line = row.pop("_line")
        try:
            tasks.append(SelectionTask.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "record"
            more = f"; {exc.error_count() - 1} more error(s)" if exc.error_count() > 1 else ""
            raise JsonlFormatError(f"{path}:{line}: not a valid selection task "
                                   f"({where}: {first['msg']}{more})") from exc
    return header, tasks


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
