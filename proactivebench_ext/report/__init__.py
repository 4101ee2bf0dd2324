"""Reports on lmms-eval output: the paper's tables beside ours, intervals and plots.

``read`` turns lmms-eval's results and samples files into runs, ``aggregate`` turns runs into
table cells (pure), ``render`` writes ``report.json`` / ``report.md``, ``plots`` the PNGs, ``paper``
holds the published numbers, and ``cli`` is ``python -m proactivebench_ext report``. Nothing here
imports lmms-eval: a report can be written on a laptop from copied output folders.
"""
