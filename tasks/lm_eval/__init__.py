"""lm-evaluation-harness task definitions (harness_aime24, harness_aime25, harness_hmmt25).

Point lm-eval at this folder: `lm_eval --include_path <repo>/tasks/lm_eval ...`, or from Python
`TaskManager(include_path=str(LM_EVAL_TASKS_DIR))`. The hooks are in utils.py.
"""

from pathlib import Path

LM_EVAL_TASKS_DIR = Path(__file__).resolve().parent
