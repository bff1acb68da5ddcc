"""Registry: decorators, lazy entries, did-you-mean, entry-point plugins, cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from harness.registry import Registry, UnknownPluginError


def test_decorator_and_lazy_entries():
    reg: Registry = Registry("widget", "harness.test-widgets")

    @reg.register("alpha")
    class Alpha:
        """An alpha widget."""

    reg.add_lazy("beta", "collections:OrderedDict", "lazy one")
    assert reg.get("alpha") is Alpha
    import collections

    assert reg.get("beta") is collections.OrderedDict
    assert reg.names() == ["alpha", "beta"]
    with pytest.raises(ValueError):
        reg.add_lazy("alpha", "os:path")  # a different target under a taken name
    with pytest.raises(ValueError):
        reg.add_lazy("gamma", "no-colon")


def test_unknown_name_suggests_and_lists():
    from harness.plugins import SELECTORS

    with pytest.raises(UnknownPluginError) as err:
        SELECTORS.get("majorty")
    message = str(err.value)
    assert "Did you mean 'majority'" in message
    assert "oracle" in message and "rm-vote" in message


def test_import_and_help_are_light():
    code = ("import sys, harness, harness.cli, harness.plugins; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch','numpy','pandas','math_verify','matplotlib','transformers'))))")
    out = subprocess.run([sys.executable, "-c", "import json;" + code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []
    help_out = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", "--help"],
                              capture_output=True, text=True, check=True)
    assert "torch" not in help_out.stderr and "numpy" not in help_out.stderr
    assert "run" in help_out.stdout and "leaderboard" in help_out.stdout


def test_list_reads_summaries_without_importing_plugins():
    """`list` shows every built-in with its summary, read from source: no plugin module is imported."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", "list", "--json"],
                         capture_output=True, text=True, check=True)
    listing = json.loads(out.stdout)
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("numpy", "torch", "tasks", "trainers")}
    assert not {m for m in imported if m.startswith(("harness.selectors.", "harness.backends."))}
    for kind in ("tasks", "selectors", "backends", "commands"):
        assert listing[kind] and all(e["summary"] and e["origin"] == "builtin" for e in listing[kind]), kind
    by_name = {e["name"]: e for e in listing["tasks"]}
    assert by_name["aime24"]["summary"] == "AIME 2024 I+II (30 problems, integer answers)"


def test_entry_point_plugin_package(tmp_path):
    """A tiny third-party package, pip-installed into a target dir, adds a selector, a task and a backend."""
    pkg = tmp_path / "src"
    (pkg / "harness_demo_plugin").mkdir(parents=True)
    (pkg / "harness_demo_plugin" / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        from harness.selectors.simple import First

        class Last(First):
            """Pick the last candidate shown."""
            name = "last"
            def choose(self, pool, subsets, *, correct=None):
                weights = np.zeros(subsets.shape)
                weights[:, -1] = 1.0
                return weights

        def make_task(settings, arg=None, **kwargs):
            raise NotImplementedError

        class EchoBackend:
            pass
    '''))
    (pkg / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "harness-demo-plugin"
        version = "0.0.1"
        [project.entry-points."harness.selectors"]
        last = "harness_demo_plugin:Last"
        [project.entry-points."harness.tasks"]
        demo-task = "harness_demo_plugin:make_task"
        [project.entry-points."harness.backends"]
        echo = "harness_demo_plugin:EchoBackend"
    '''))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(pkg)], check=True, capture_output=True)
    import os

    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}
    listing = subprocess.run([sys.executable, "-m", "harness", "list", "--json"], capture_output=True,
                             text=True, check=True, env=env)
    data = json.loads(listing.stdout)
    by_kind = {kind: {e["name"]: e for e in entries} for kind, entries in data.items()}
    assert by_kind["selectors"]["last"]["origin"] == "entry-point:harness-demo-plugin"
    assert "demo-task" in by_kind["tasks"] and "echo" in by_kind["backends"]
    # And the plugin selector really runs through the registry.
    code = ("from harness.plugins import make_selector; import numpy as np;"
            "s = make_selector('last'); print(s.choose(None, np.array([[3, 1, 2]])).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.strip() == "[[0.0, 0.0, 1.0]]"


def test_installed_entry_points_match_pyproject():
    """The built-ins are pyproject.toml's entry points; a stale install (pip install -e . not rerun
    after editing them) shows up here, and a bare checkout falls back to reading pyproject.toml."""
    from importlib import metadata

    from harness.registry import source_tree_entry_points

    for group in ("harness.tasks", "harness.selectors", "harness.backends", "harness.commands"):
        declared = source_tree_entry_points(group)
        installed = {ep.name: ep.value for ep in metadata.entry_points(group=group)
                     if ep.dist is not None and ep.dist.name == "harness"}
        assert declared and installed == declared, f"{group}: run `pip install --no-deps -e .`"
