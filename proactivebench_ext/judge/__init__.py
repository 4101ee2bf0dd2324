"""The LLM judge of open-ended (OEG) answers.

``prompts`` builds the benchmark's judge messages and parses verdicts (pure); ``client`` talks to
a judge endpoint with bounded retries; ``phase`` is the resumable judging pass over logged
answers (``python -m proactivebench_ext judge LOGDIR``) and the multi-turn option mapping.
"""
