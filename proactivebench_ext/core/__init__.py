"""The pure scenario engine: what ProactiveBench is, with no I/O beyond its packaged constants.

``constants`` reads the benchmark's byte-identical prompts, options and templates; ``naming`` owns
every public name (scenario order, slugs, task and group names); ``scenarios`` holds each
scenario's rules in one class; ``matching`` parses answers; ``engine`` plays episodes;
``policies`` (oracle, exact random expectation), ``ablations``, ``icl`` and ``variants`` (the one
table of task variants, MCQA and OEG) build on them. Nothing here imports another layer,
torch or lmms-eval.
"""
