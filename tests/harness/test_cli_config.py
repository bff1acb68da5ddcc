"""The `run` and `compare` flags are the config models' fields; config file, environment, errors."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import add_config_flags, build_parser, config_from_args, main
from harness.config import CompareConfig, RunConfig, cli_fields, field_flags
from harness.errors import ConfigError, HarnessError

MINIMAL = {"run": ["--task", "arith", "--selector", "first", "--model", "smollm2-135m"],
           "compare": ["--task", "arith", "--selectors", "first", "--pools", "a,b"]}
MODELS = {"run": RunConfig, "compare": CompareConfig}
HAND_WRITTEN = {"run": {"data_dir", "results_dir", "sandbox", "config_file", "json", "quiet"},
                "compare": {"data_dir", "results_dir", "sandbox", "config_file", "quiet"}}


def _subparser(name: str) -> argparse.ArgumentParser:
    parser, _ = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["run", "compare"])
def test_flags_are_exactly_the_config_fields(command):
    model = MODELS[command]
    dests = {a.dest for a in _subparser(command)._actions if a.dest != "help"}
    assert dests - HAND_WRITTEN[command] == set(cli_fields(model))
    assert set(model.model_fields) - set(cli_fields(model)) == {"progress"}  # that one is --quiet
    for name in cli_fields(model):  # every field has a flag, named after it unless it says otherwise
        assert field_flags(model, name)[0] in _subparser(command)._option_string_actions
        assert model.model_fields[name].description, f"{name} has no help text"


@pytest.mark.parametrize("command", ["run", "compare"])
def test_defaults_come_from_the_model(command, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("HARNESS_") and key not in ("HARNESS_DATA_DIR", "HARNESS_RESULTS_DIR"):
            monkeypatch.delenv(key)
    model = MODELS[command]
    parser, _ = build_parser()
    args = parser.parse_args([command, *MINIMAL[command]])
    config = config_from_args(model, args)
    given = {"task", "selectors", "model", "pools"}
    for name, info in model.model_fields.items():
        if name not in given:
            assert getattr(config, name) == info.get_default(call_default_factory=True), name
    # the parser itself holds no defaults: absent flags are absent from the namespace
    assert not set(vars(args)) & (set(cli_fields(model)) - given)


def test_flag_types_lists_booleans_aliases():
    parser, _ = build_parser()
    args = parser.parse_args(["run", "--task", "arith", "--selector", "first,majority", "--model", "m",
                              "--n", "1,2,4-6", "--paper", "--judge-chunk", "16", "--resamples", "500",
                              "--max-grader-error-rate", "0.1", "--tie-credit", "draw"])
    config = config_from_args(RunConfig, args)
    assert config.selectors == ("first", "majority") and config.ns == (1, 2, 4, 5, 6)
    assert config.paper is True and config.judge_chunk == 16 and config.resamples == 500
    assert config.max_grader_error_rate == 0.1 and config.tie_credit == "draw"
    args = parser.parse_args(["compare", "--task", "arith", "--selector", "first", "--pools", "a, b",
                              "--no-paper", "--at", "4", "--out", "x.png"])
    compare = config_from_args(CompareConfig, args)
    assert compare.pools == ("a", "b") and compare.at == 4 and compare.out == "x.png" and not compare.paper
    run = compare.run_config("a")
    assert run.pool == "a" and run.selectors == ("first",) and run.seed == compare.seed


def test_precedence_cli_over_env_over_file_over_defaults(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("task: arith\nselectors: [first, majority]\nmodel: m\ndraws: 100\nseed: 3\n"
                           "window: 4\nn: 1-4\n")
    parser = argparse.ArgumentParser()
    add_config_flags(parser, RunConfig)
    args = parser.parse_args(["--config", str(config_file), "--seed", "7"])
    import harness.config as cfg

    env = {"HARNESS_DRAWS": "200", "HARNESS_SEED": "5"}
    values = {"seed": 7}
    config = cfg.load_config(RunConfig, values, config_file=args.config_file, environ=env)
    assert config.seed == 7  # CLI
    assert config.draws == 200  # env over file
    assert config.window == 4 and config.selectors == ("first", "majority")  # file
    assert config.ns == (1, 2, 3, 4)
    assert config.llm_draws == 4  # default
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: arith\nwindwo: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'windwo'.*window"):
        cfg.load_config(RunConfig, {}, config_file=bad, environ={})


def test_run_without_pool_or_model_lists_pools_and_the_two_ways_to_get_one(capsys, tmp_path):
    results = str(tmp_path / "results")
    assert main(["run", "--selector", "first", "--task", "arith", "--results-dir", results]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no pool exists for arith" in err[0]
    assert "pool import --task arith" in err[0] and "--model MODEL" in err[0]
    from harness.generate import GenerationConfig
    from harness.plugins import load_task
    from harness.pools import PoolStore
    from harness.settings import Settings

    task = load_task("arith:n=2", Settings.resolve(results_dir=results))
    spec = GenerationConfig(model="m").spec(task.version)
    PoolStore(tmp_path / "results" / "pools").create(task.name, spec, task.problems(), label="m")
    assert main(["run", "--selector", "first", "--task", "arith:n=2", "--results-dir", results]) == 2
    err = capsys.readouterr().err.strip()
    assert f"pools for {task.name}: {task.name}/m/" in err and "pass one with --pool REF" in err


def test_validation_errors_name_the_flag_one_line_each(capsys):
    assert main(["run", "--selector", "first", "--task", "arith", "--pool", "x", "--window", "1",
                 "--draws", "many"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: --window: must be >= 2, got '1'"
    assert err[1].strip() == "--draws: must be an integer, got 'many'" and len(err) == 2
    assert main(["compare", "--task", "arith", "--selectors", "first", "--pools", "only-one"]) == 2
    assert "--pools: give at least 2" in capsys.readouterr().err


def test_harness_errors_are_one_line_and_other_errors_keep_their_traceback(monkeypatch, capsys):
    import harness.cli as cli

    def fail_user(args, settings):
        raise ConfigError("bad flag", fix="use --good")

    def fail_bug(args, settings):
        raise ValueError("shapes (3,) and (4,) not aligned")  # a defect, not a user error

    real = cli.build_parser
    for handler in (fail_user, fail_bug):
        monkeypatch.setattr(cli, "build_parser",
                            lambda h=handler: (real()[0], {**real()[1], "leaderboard": h}))
        if handler is fail_user:
            assert main(["leaderboard"]) == 2
            assert capsys.readouterr().err == "error: bad flag (use --good)\n"
        else:
            with pytest.raises(ValueError, match="not aligned"):
                main(["leaderboard"])


def test_unknown_names_are_plugin_errors(capsys):
    assert main(["run", "--selector", "majorty", "--task", "arith", "--model", "m"]) == 2
    assert "Did you mean 'majority'" in capsys.readouterr().err


def test_compare_help_names_real_pool_slugs():
    help_text = _subparser("compare").format_help()
    assert "qwen2-5-7b-instruct" not in help_text and "qwen-qwen2.5-7b-instruct" in help_text


def test_train_passes_resolved_settings_and_eval_runs_a_runconfig(monkeypatch, tmp_path, capsys):
    """--data-dir reaches the trainer (and its evaluation-overlap check) as the CLI's Settings, and
    --eval-on calls harness.run.run with a RunConfig (no argv round trip)."""
    import harness.run
    import trainers.train

    seen = {}

    def fake_train(config, *, settings, eval_on=None, **_):
        seen["settings"], seen["eval_on"] = settings, eval_on
        return {"name": "ckpt-1", "path": str(tmp_path / "ckpt-1")}

    class Outcome:
        records = ()

    def fake_run(config, settings, **_):
        seen["run"], seen["run_settings"] = config, settings
        raise HarnessError("stop after the config was built")

    monkeypatch.setattr(trainers.train, "main", fake_train)
    monkeypatch.setattr(harness.run, "run", fake_run)
    code = main(["train", "--config", "cpu-smoke", "--data-dir", str(tmp_path / "data"),
                 "--results-dir", str(tmp_path / "results"), "--eval-on", "arith",
                 "--eval-args", "--model smollm2-135m --n 1,4 --llm-draws 2"])
    assert code == 2 and "stop after" in capsys.readouterr().err
    assert seen["settings"].data_dir == tmp_path / "data"
    assert seen["settings"].results_dir == tmp_path / "results" and seen["run_settings"] is seen["settings"]
    config = seen["run"]
    assert isinstance(config, RunConfig) and config.task == "arith" and config.selectors == ("rl-genselect",)
    assert config.checkpoint == "ckpt-1" and config.judge_model is None
    assert config.ns == (1, 4) and config.llm_draws == 2
    assert main(["train", "--config", "cpu-smoke", "--eval-on", "arith", "--eval-args", "--nope 3"]) == 2
    assert "not a flag of `run`: --nope 3" in capsys.readouterr().err


def test_trainer_contamination_check_reads_the_given_data_dir(monkeypatch, tmp_path):
    import trainers.train

    seen = {}

    def fake_build(cfg, settings, **_):
        seen["settings"] = settings
        raise HarnessError("stop")

    monkeypatch.setattr(trainers.train, "build_dataset", fake_build)
    assert main(["train", "--config", "cpu-smoke", "--data-dir", str(tmp_path),
                 "--results-dir", str(tmp_path / "r")]) == 2
    assert seen["settings"].data_dir == tmp_path


def test_sandbox_isolation_is_a_setting_the_code_tasks_pass_on(monkeypatch, tmp_path):
    from harness.cli import build_parser, settings_from_args
    from harness.settings import SANDBOX_ENV, Settings
    from tasks.code_tasks import humaneval

    monkeypatch.setenv(SANDBOX_ENV, "strict")
    assert Settings.resolve().sandbox == "strict"
    parser, _ = build_parser()
    args = parser.parse_args(["run", "--task", "humaneval", "--sandbox", "none"])
    settings = settings_from_args(args)
    assert settings.sandbox == "none"  # the flag over the environment
    assert humaneval(settings).grader().isolation_mode == "none"
    with pytest.raises(ValueError, match="HARNESS_SANDBOX"):
        Settings.resolve(sandbox="off")
