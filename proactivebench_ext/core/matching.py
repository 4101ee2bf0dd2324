"""Answer matching: how a free-text model answer is mapped onto the shown options.

The rules reproduce the reference implementation exactly, quirks included (a greedy prefix strip
up to the last ``<capital>.`` of the first line, only spaces removed inside the text, letters
past ``Z`` continuing into ``[\\]^_`` and lower case), because that is what the paper's numbers
were computed with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from .constants import McqaTemplate

CORRECT, WRONG, MISMATCH = "correct", "wrong", "mismatch"
_LETTER_PREFIX = re.compile(r"^.*[A-Z]\.\s*")


@lru_cache(maxsize=1 << 16)
def standardize_text(answer: str) -> str:
    """Strip a leading "X." style prefix, lower-case, trim, and drop every space."""
    return _LETTER_PREFIX.sub("", answer, count=1).lower().strip().replace(" ", "")


@lru_cache(maxsize=1 << 12)
def standardize_letter(answer: str) -> str:
    """The text before the first ".", lower-cased and trimmed; "#" unless at most one character."""
    head = answer.split(".")[0].lower().strip()
    return "#" if len(head) > 1 else head


def option_letter(index: int) -> str:
    """Letter shown for the option at ``index`` (A, B, ...; past Z it runs on through ASCII)."""
    return chr(65 + index)


@dataclass(frozen=True)
class Match:
    """How an answer relates to one list of options."""

    verdict: str  # CORRECT, WRONG or MISMATCH
    chosen: str  # the option the answer was matched to ("" on MISMATCH)


def match_answer(answer: str, correct: Sequence[str], options: Sequence[str], letter_shift: int) -> Match:
    """Match ``answer`` by full text first, then by letter (letters start at ``letter_shift``).

    A text match wins over a conflicting letter. Among options that standardise alike, the first
    one is chosen, as in the reference.
    """
    full = standardize_text(answer)
    std_options = [standardize_text(option) for option in options]
    if full in std_options:
        chosen = options[std_options.index(full)]
        correct_texts = {standardize_text(item) for item in correct}
        return Match(CORRECT if full in correct_texts else WRONG, chosen)
    letter = standardize_letter(answer)
    option_letters = [standardize_letter(option_letter(i + letter_shift)) for i in range(len(options))]
    if letter in option_letters:
        chosen = options[option_letters.index(letter)]
        correct_letters = {standardize_letter(option_letter(options.index(item) + letter_shift)) for item in correct}
        return Match(CORRECT if letter in correct_letters else WRONG, chosen)
    return Match(MISMATCH, "")


def mcqa_prompt(question: str, options: Sequence[str], template: McqaTemplate) -> str:
    """The exact multiple-choice prompt of the reference runs (short-answer form)."""
    lines = "".join(template.option_line.format(letter=option_letter(i), option=option) for i, option in enumerate(options))
    return f"{question}{template.after_question}{lines}{template.short_answer_suffix}"
