"""lmms-eval integration: task hooks, baseline models and task registration.

Kept import-light on purpose: lmms-eval, torch and datasets are imported by the submodules that
need them, so ``import proactivebench_ext.lmms`` stays cheap.
"""
