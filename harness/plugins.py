"""The three plugin registries and the built-in entries (all lazy: nothing heavy is imported).

Third-party packages add entries through the entry-point groups harness.tasks,
harness.selectors and harness.backends; `python -m harness list` shows them all.
"""

from __future__ import annotations

from typing import Any

from harness.registry import Registry

TASKS: Registry[Any] = Registry("task", "harness.tasks")
SELECTORS: Registry[Any] = Registry("selector", "harness.selectors")
BACKENDS: Registry[Any] = Registry("backend", "harness.backends")

_MATH = "tasks.math_tasks"
for _name, _summary in (("aime24", "AIME 2024 I+II (30 problems, integer answers)"),
                        ("aime25", "AIME 2025 I+II (30 problems, integer answers)"),
                        ("hmmt25", "HMMT February 2025 (30 final-answer problems)"),
                        ("math500", "MATH-500 (hub HuggingFaceH4/MATH-500 or local math500/)"),
                        ("math_cot_100", "100 MATH test problems (local data; the Qwen2.5-Math pool)"),
                        ("math_l5", "360 MATH level-5 problems (local data; the ZeroEval cross-model pool)")):
    TASKS.add_lazy(_name, f"{_MATH}:TASK_FACTORIES.{_name}", _summary)
TASKS.add_lazy("math", f"{_MATH}:math_family", "MATH-style family: --task math:<subdir> reads <data_dir>/<subdir>")
TASKS.add_lazy("arith", "tasks.arith:arith", "embedded arithmetic word problems (offline; --task arith:level=mul1,n=30)")
TASKS.add_lazy("livecodebench", "tasks.code_tasks:livecodebench",
               "LiveCodeBench code generation (v6 window Aug 2024 - May 2025 by default)")
TASKS.add_lazy("humaneval", "tasks.code_tasks:humaneval", "HumanEval (164 problems, check() tests)")

_SEL = "harness.selectors"
SELECTORS.add_lazy("first", f"{_SEL}.simple:First", "first candidate shown (the pass@1 baseline)")
SELECTORS.add_lazy("random", f"{_SEL}.simple:Random", "uniformly random candidate")
SELECTORS.add_lazy("oracle", f"{_SEL}.simple:Oracle", "pass@N: any correct candidate (upper bound)")
SELECTORS.add_lazy("majority", f"{_SEL}.voting:Majority", "most frequent answer cluster")
SELECTORS.add_lazy("rm-best", f"{_SEL}.voting:RmBest", "highest reward-model score")
SELECTORS.add_lazy("rm-vote", f"{_SEL}.voting:RmVote", "answer cluster with the largest summed RM score")
SELECTORS.add_lazy("genselect", f"{_SEL}.genselect:GenSelect", "an LLM compares the candidates and names the best")
SELECTORS.add_lazy("rl-genselect", f"{_SEL}.genselect:RLGenSelect", "GenSelect judged by a DAPO-trained checkpoint")
SELECTORS.add_lazy("usc", f"{_SEL}.genselect:USC", "universal self-consistency: the most consistent response")

_BK = "harness.backends"
BACKENDS.add_lazy("hf", f"{_BK}.hf_backend:HFBackend", "transformers, CPU or GPU, batched, one seed per request")
BACKENDS.add_lazy("openai", f"{_BK}.openai_backend:OpenAIBackend", "any OpenAI-compatible server (vLLM, SGLang, llama.cpp, APIs)")
BACKENDS.add_lazy("vllm", f"{_BK}.vllm_backend:VLLMBackend", "vLLM offline LLM.generate (GPU)")
BACKENDS.add_lazy("lm-eval", f"{_BK}.lm_eval_backend:LMEvalBackend",
                  "any lm-eval model type: --backend lm-eval:<type> (hf, vllm, local-chat-completions, ...)")
BACKENDS.add_lazy("llamacpp", f"{_BK}.llamacpp_backend:LlamaCppBackend", "in-process llama.cpp (fast CPU decoding of GGUF)")

REGISTRIES = {"tasks": TASKS, "selectors": SELECTORS, "backends": BACKENDS}


def load_task(name: str, settings, hub_id: str | None = None):
    """Build a task from a registry name; 'family:arg' passes arg to the family's factory."""
    base, _, arg = name.partition(":")
    factory = TASKS.get(base)
    return factory(settings, arg or None, hub_id=hub_id) if arg or hub_id else factory(settings)


def make_selector(name: str, **options: Any):
    return SELECTORS.get(name)(**options)


def make_backend(name: str, model: str, **options: Any):
    """A backend instance; options are the backend constructor's keyword arguments.

    'family:arg' names pass arg as the backend's model type (`lm-eval:hf` -> model_type="hf").
    """
    base, _, arg = name.partition(":")
    if arg:
        options = {"model_type": arg, **options}
    return BACKENDS.get(base)(model=model, **options)
