"""harness: Best-of-N selection research (pools, graders, selectors, exact estimators, DAPO selectors).

Importing the package is cheap on purpose: submodules pull in numpy, math-verify or torch only
when used. Public entry points: harness.run.run, harness.config.RunConfig, harness.settings.Settings,
harness.plugins (TASKS, SELECTORS, BACKENDS), harness.store.load_runs, harness.plots.plot_scaling.
"""

__version__ = "0.1.0"
