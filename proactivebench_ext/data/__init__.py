"""The benchmark's data: the released layout, images, the hub download, checks and synthetic sets.

``layout`` finds and loads the ``<Dataset>_preprocessed.jsonl`` files and applies the test-set
filter; ``images`` loads what a turn shows; ``hub`` downloads and extracts the released archives;
``checkdata`` validates a data folder (``python -m proactivebench_ext check-data``); ``synth``
writes synthetic sets in the same layout (``python -m proactivebench_ext synth``); ``errors`` holds
the exceptions, whose messages name the file and the fix. Imports ``core`` only.
"""
