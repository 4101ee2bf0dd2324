"""A static episode viewer for ProactiveBench runs (``python -m proactivebench_ext view``).

``episodes`` turns each logged sample into what the model saw turn by turn (replaying the engine
for what the log does not hold: accepted options, hint text, in-context examples), ``images``
writes thumbnails once, ``render`` the HTML, ``site`` the pages of a whole set of runs, and ``cli``
is the command. The pages need no server, no network and no external script or font.
"""
