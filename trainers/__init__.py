"""DAPO training of GenSelect selectors (DESIGN.md section 7).

Modules (heavy libraries are imported inside functions, so importing this package is cheap):

- selection_data: selection tasks from graded pools, with the paper's filters.
- eval_guard: the refusal of any training problem that belongs to an evaluation task.
- tasks_schema: SelectionTask, the typed record those tasks are (one dataset line each).
- reward: 1 if the parsed judgment names a correct candidate, else 0 (the parser is
  harness.selectors.judgment.parse_judgment, shared with the evaluation selector), plus
  DAPO's optional soft overlong penalty.
- dapo_trl: one machine: TRL's GRPOTrainer with the DAPO loss, and the dynamic sampling TRL
  lacks (drop groups whose rewards are all equal, refill the batch).
- train: config loading, orchestration, checkpoint + curves, registration
  (`python -m harness train --config FILE`).
- verl_export / verl_reward: many machines: verl's parquet schema, custom reward function,
  DAPO config and a `ray job submit` launch script.
"""
