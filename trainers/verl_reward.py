"""verl custom reward function for GenSelect selection tasks.

verl 0.9 loads this file by path (`reward.custom_reward_function.path=trainers/verl_reward.py`,
`reward.custom_reward_function.name=compute_score`: verl.trainer.ppo.reward.get_custom_reward_fn;
the path is relative to the Ray job's working_dir, this repository) and its DAPO reward manager
(`reward.reward_manager.name=dapo`) calls

    compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)

once per rollout. The legacy top-level `custom_reward_function.*` keys are ignored by verl 0.9's
main_ppo. The verdict is read by harness.selectors.judgment.parse_judgment, the same
function the GenSelect selector and the TRL reward use; there is no second parser. The result
is a dict: "score" (1.0 if the judgment names a correct candidate, else 0.0; DAPO's reward
manager adds the overlong penalty from `reward.reward_kwargs` to it), "acc" (the same 0/1), "parsed"
(the index, -1 on a parse failure) and "parse_ok". The manager puts every key of the dict into
reward_extra_info, where verl 0.9's V1 ReplayBuffer reads `algorithm.filter_groups.metric=acc`.

ground_truth is the JSON written by trainers/verl_export.py:
{"correct_positions": [...], "n_candidates": k}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Loaded by file path on Ray workers: make the repository (working_dir) importable.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from harness.selectors.judgment import parse_judgment  # noqa: E402  (the one shared parser)


def parse_ground_truth(ground_truth: Any, extra_info: Any = None) -> tuple[list[int], int]:
    """(correct positions, number of candidates shown) from the record's ground truth."""
    data = json.loads(ground_truth) if isinstance(ground_truth, (str, bytes)) else ground_truth
    if isinstance(data, dict):
        correct = data.get("correct_positions")
        n = data.get("n_candidates")
    else:
        correct, n = data, None
    if n is None and isinstance(extra_info, dict):
        n = extra_info.get("n_candidates")
    if correct is None or n is None:
        raise ValueError("selection ground truth needs correct_positions and n_candidates, got "
                         f"{ground_truth!r}")
    return [int(c) for c in list(correct)], int(n)


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  **_: Any) -> dict[str, Any]:
    correct, n = parse_ground_truth(ground_truth, extra_info)
    parsed = parse_judgment(solution_str, n)
    ok = 1.0 if parsed is not None and parsed in correct else 0.0
    return {"score": ok, "acc": ok, "parsed": -1 if parsed is None else int(parsed),
            "parse_ok": parsed is not None}
