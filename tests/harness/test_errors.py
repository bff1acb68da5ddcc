"""One error root: every user-fixable error is a HarnessError of one kind; the CLI prints it as one line."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from harness import errors


def test_every_module_error_has_one_root_and_keeps_its_old_base():
    from harness.backends.base import BackendError
    from harness.checkpoints import NoCheckpointError
    from harness.importers.common import ImportFormatError
    from harness.jsonl import JsonlFormatError
    from harness.plots import NothingToPlotError
    from harness.pools import PoolError
    from harness.registry import UnknownPluginError
    from harness.run import GraderFailureError
    from harness.sandbox.spec import SandboxError
    from harness.task import TaskDataError
    from trainers.dapo_trl import ShortfallError
    from trainers.eval_guard import EvalContaminationError
    from trainers.train import TrainConfigError

    kinds = {PoolError: errors.PoolError, BackendError: errors.BackendError,
             GraderFailureError: errors.GraderFailureError, UnknownPluginError: errors.PluginError,
             TaskDataError: errors.DataError, JsonlFormatError: errors.DataError,
             ImportFormatError: errors.DataError, NothingToPlotError: errors.DataError,
             NoCheckpointError: errors.CheckpointError, SandboxError: errors.MissingPrerequisiteError,
             TrainConfigError: errors.ConfigError, EvalContaminationError: errors.DataError,
             ShortfallError: errors.DataError}
    for cls, kind in kinds.items():
        assert issubclass(cls, kind) and issubclass(cls, errors.HarnessError), cls
    # the historical bases still catch them
    assert issubclass(UnknownPluginError, KeyError) and issubclass(JsonlFormatError, ValueError)
    assert issubclass(TrainConfigError, ValueError) and issubclass(NoCheckpointError, LookupError)
    assert issubclass(errors.MissingFileError, FileNotFoundError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.HarnessError)


def test_messages_carry_the_fix_and_survive_pickling():
    err = errors.ConfigError("--window must be >= 2", fix="pass --window 8")
    assert str(err) == "--window must be >= 2 (pass --window 8)"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is errors.ConfigError and str(back) == str(err)
    missing = errors.MissingPrerequisiteError.package("trl", "train", purpose="DAPO training")
    assert str(missing) == "DAPO training needs trl, which is not installed: pip install -e '.[train]'"
    assert missing.extra == "train"


def test_missing_vllm_is_one_line_not_a_traceback(tmp_path):
    pytest.importorskip("torch")  # any machine without vLLM: the CPU test install
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    proc = subprocess.run([sys.executable, "-m", "harness", "generate", "--task", "arith:level=add1,n=2",
                           "--model", "smollm2-135m", "--backend", "vllm", "--samples", "2",
                           "--results-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("error: ") and "pip install -e '.[vllm]'" in lines[0]


def test_missing_input_file_is_a_data_error(tmp_path, capsys):
    from harness.cli import main

    code = main(["pool", "import", "--task", "arith", str(tmp_path / "nope.jsonl"),
                 "--results-dir", str(tmp_path)])
    assert code == 2 and "nope.jsonl: no such file" in capsys.readouterr().err


def test_a_plugin_whose_target_is_gone_is_a_plugin_error():
    from harness.registry import Registry

    reg = Registry("widget", "harness.test-widgets-none")
    reg.add_lazy("gone", "harness.no_such_module:Thing")
    reg.add_lazy("attr", "harness.errors:NoSuchThing")
    for name in ("gone", "attr"):
        with pytest.raises(errors.PluginError, match="cannot be loaded"):
            reg.get(name)
