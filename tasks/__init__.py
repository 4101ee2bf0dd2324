"""lmms-eval task configs of ProactiveBench (installed as ``proactivebench_ext.tasks``).

Not Python code: the YAML files under ``proactivebench/`` are what lmms-eval reads; see README.md.
This file only makes the folder a package so the configs ship inside the wheel.
"""
