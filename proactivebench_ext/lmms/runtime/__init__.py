"""Runtime patches of lmms-eval, kept together, each behind a version gate and a switch.

lmms-eval 0.7.3 lacks two things ProactiveBench needs, so we patch it at run time, never its files:

1. :mod:`.task_index` shows our task folder to every TaskManager (no flag needed). Installed by
   :mod:`.startup`, which ``proactivebench_ext_hook.pth`` imports when Python starts (through
   :mod:`.import_hook`, which :mod:`.backends` uses too). Gate:
   ``task_index.SUPPORTED_LMMS_EVAL``; off with ``PROACTIVEBENCH_NO_AUTOREGISTER=1``.
2. :mod:`.lockstep` plays our agentic requests from a refilled pool of episodes across all our
   tasks, each round's turns in shared backend calls (overlapping for the ``openai`` backends),
   instead of one episode at a time. Installed by our tasks' ``process_docs`` (so only runs with our tasks are
   touched). Gate: ``lockstep.TESTED_LMMS_EVAL`` and the stock runner's signature; off with
   ``PROACTIVEBENCH_LOCKSTEP=0``.
3. :mod:`.provenance` wraps ``evaluator.evaluate`` to add a ``proactivebench`` block to the results
   (data source, fingerprint, episode counts, group coverage, settings) and the synthetic marks.
   Installed by our tasks' ``process_docs``. Gate: ``provenance.TESTED_LMMS_EVAL``; no switch (a
   results file without it cannot say which data its numbers came from).

:mod:`.options` refuses lmms-eval options our tasks cannot honour, and :mod:`.environment` bad
``PROACTIVEBENCH_*`` values, when lmms-eval's command line builds its TaskManager (before the
model loads): one line each, exit status 2.
On an lmms-eval version outside a gate the patch stays off and lmms-eval runs unchanged.
This package is imported at every interpreter start-up: keep it free of heavy imports.
"""


def lmms_eval_version() -> str:
    from importlib.metadata import version

    return version("lmms_eval")
