"""Which lmms-eval tasks exist: scenarios x variants, their names and what each variant changes.

One table drives the task YAMLs (``tools/generate_tasks.py``), the hooks and the
tests, so a new variant is one more row here plus a regenerate. A row says, as data, what its
episodes are (hint, reference mode, random proactive options) and what the model is sent each
turn (the plain turn, the conversation so far, or solved examples first); :meth:`Variant.episode`
and :meth:`Variant.prompt` turn that into an episode and a request, using the pure functions of
:mod:`proactivebench_ext.ablations`.

The open-ended (OEG) variants are rows of :data:`OEG_VARIANTS` in this same module: what their
episodes are comes from the main variant, what differs is the judge and the metrics.
Names (tasks, groups, slugs) come from :mod:`.naming`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .ablations import (
    Prompt,
    history_prompt,
    icl_examples,
    icl_prompt,
    plain_prompt,
    random_options_episode,
)
from .constants import load_benchmark
from .engine import Episode, new_episode
from .icl import ICL_SCENARIOS, IclStep
from .naming import SCENARIO_ACRONYMS, group_name, task_name

# Upper bound on rounds per episode given to lmms-eval's agentic runner. The runner stops as soon as
# our hook reports the episode over, so a generous bound costs nothing; process_docs checks that
# every entry's own step budget (``max_steps``) fits, so the terminal round is always reached.
MAX_AGENTIC_STEPS = 1000

# What the model is sent each turn.
PLAIN = "plain"  # the turn's image and its multiple-choice prompt
HISTORY = "history"  # every earlier turn (image resized, prompt, answer), then the current one
ICL = "icl"  # solved example episodes (images resized), then the current turn
PROMPT_MODES = (PLAIN, HISTORY, ICL)

ICL_SETTINGS = MappingProxyType({"seed": 0, "reduce_steps": False})


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Variant:
    """One task variant: what its episodes are and what the model is sent at each turn.

    ``settings`` are the knobs a task YAML may set under ``lmms_eval_specific_kwargs`` (with their
    defaults): ``seed`` for every seeded draw, ``reduce_steps`` for MVP-N in-context examples.
    """

    name: str
    description: str
    episode_kwargs: Mapping[str, Any] = field(default_factory=_frozen)  # new_episode's hint / reference
    metrics: tuple[str, ...] = ("acc", "psr")
    scenarios: tuple[str, ...] = SCENARIO_ACRONYMS
    ablation: str | None = None  # several variants of one ablation share a group proactivebench_<ablation>
    prompt_mode: str = PLAIN
    random_options: bool = False
    icl_shots: int = 0
    icl_cot: bool = False
    settings: Mapping[str, Any] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"variant {self.name}: prompt_mode must be one of {PROMPT_MODES}")
        if (self.prompt_mode == ICL) != (self.icl_shots > 0):
            raise ValueError(f"variant {self.name}: in-context examples need prompt_mode {ICL!r} and icl_shots > 0")
        if (self.random_options or self.icl_shots) and "seed" not in self.settings:
            raise ValueError(f"variant {self.name}: seeded draws need a 'seed' setting")
        unknown = set(self.scenarios) - set(SCENARIO_ACRONYMS)
        if unknown or (self.icl_shots and set(self.scenarios) - set(ICL_SCENARIOS)):
            raise ValueError(f"variant {self.name}: unsupported scenarios {sorted(unknown or set(self.scenarios))}")

    # -- settings ---------------------------------------------------------------------------------
    def resolve_settings(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The variant's settings: its defaults updated by ``given`` (a task's
        ``lmms_eval_specific_kwargs``, after lmms-eval merged its ``default`` block).

        Nested blocks (``default``, per-model keys) are skipped; an unknown key or a value of the
        wrong type is an error, so a typo never silently runs the default.
        """
        settings = dict(self.settings)
        for key, value in (given or {}).items():
            if isinstance(value, Mapping):
                continue
            if key not in settings:
                known = ", ".join(sorted(settings)) or "none"
                raise ValueError(f"ProactiveBench variant {self.name!r} has no setting {key!r} (settings: {known}); "
                                 "check lmms_eval_specific_kwargs in the task YAML")
            settings[key] = _coerce(self.name, key, value, self.settings[key])
        return settings

    # -- the episode factory and the prompt builder -------------------------------------------------
    def episode(self, scenario: str, entry: Mapping[str, Any], data_dir: str, settings: Mapping[str, Any]) -> Episode:
        """A fresh episode of ``entry`` in this variant (same draws every time for the same settings)."""
        if self.random_options:
            return random_options_episode(scenario, entry, data_dir, seed=settings["seed"], **self.episode_kwargs)
        return new_episode(scenario, entry, data_dir, **self.episode_kwargs)

    def examples(self, scenario: str, candidates: Sequence[Mapping[str, Any]], evaluated_id: Any, data_dir: str,
                 settings: Mapping[str, Any]) -> list[tuple[Any, list[IclStep]]]:
        """The solved examples shown before ``evaluated_id`` (none outside the ICL variants)."""
        if not self.icl_shots:
            return []
        return icl_examples(scenario, candidates, evaluated_id, data_dir, shots=self.icl_shots, cot=self.icl_cot,
                            reduce_steps=bool(settings["reduce_steps"]), seed=settings["seed"])

    def prompt(self, episode: Episode, examples: Sequence[Sequence[IclStep]] = ()) -> Prompt:
        """What the model is sent at the episode's current turn: images in order, and one text."""
        if self.prompt_mode == HISTORY:
            return history_prompt(episode, load_benchmark().resize_short_edge["history"])  # type: ignore[arg-type]
        if self.prompt_mode == ICL:
            return icl_prompt(examples, episode.observe())
        return plain_prompt(episode.observe())


def _coerce(variant: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    elif isinstance(default, int):
        if not isinstance(value, bool):
            try:
                return int(str(value).strip())
            except ValueError:
                pass
    else:
        return value
    raise ValueError(f"ProactiveBench variant {variant!r}: setting {key!r} must be a {type(default).__name__}, got {value!r}")


def _icl(shots: int, cot: bool) -> Variant:
    name = f"icl{shots}{'cot' if cot else ''}"
    answers = "chain-of-thought answers" if cot else "plain answers"
    return Variant(name, f"{shots} solved example episode{'s' if shots > 1 else ''} ({answers}) before every turn",
                   scenarios=ICL_SCENARIOS, ablation="icl", prompt_mode=ICL, icl_shots=shots, icl_cot=cot,
                   settings=ICL_SETTINGS)


VARIANTS: Mapping[str, Variant] = MappingProxyType({
    "main": Variant("main", "multi-turn MCQA: the model may ask for a better view before answering"),
    "reference": Variant("reference", "clean reference frame, categories only, one turn",
                         _frozen({"reference": True}), ("acc",)),
    "hint": Variant("hint", "multi-turn MCQA with the scenario's hint appended to the question",
                    _frozen({"hint": True})),
    "history": Variant("history", "multi-turn MCQA where each turn also shows every earlier turn (images at 224 px, "
                       "prompts and answers)", prompt_mode=HISTORY),
    "random": Variant("random", "multi-turn MCQA with other scenarios' proactive options; picking one makes a random "
                      "admissible move", random_options=True, settings=_frozen({"seed": 0})),
    **{variant.name: variant for variant in (_icl(1, False), _icl(3, False), _icl(1, True), _icl(3, True))},
})


def all_tasks() -> dict[str, tuple[str, str]]:
    """Every task: name -> (variant, scenario acronym), in table and paper order."""
    return {task_name(variant.name, acronym): (variant.name, acronym)
            for variant in VARIANTS.values() for acronym in variant.scenarios}


def ablation_groups() -> dict[str, list[str]]:
    """Groups over several variants of one ablation: group name -> its variant groups."""
    groups: dict[str, list[str]] = {}
    for variant in VARIANTS.values():
        if variant.ablation:
            groups.setdefault(group_name(variant.ablation), []).append(group_name(variant.name))
    return groups


def all_groups() -> list[str]:
    """Every group: one per variant, then the ablation groups."""
    return [group_name(name) for name in VARIANTS] + list(ablation_groups())


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown ProactiveBench task variant {name!r}; known: {', '.join(VARIANTS)} "
                       "(proactivebench_ext/core/variants.py)") from None


# -- open-ended generation -----------------------------------------------------------------------
OEG_METRICS = ("proactive_suggestion", "category_prediction", "aggregate")


@dataclass(frozen=True)
class OegVariant:
    """One open-ended variant: the main variant's episodes, answered in free text and judged."""

    name: str
    description: str
    metrics: tuple[str, ...]
    multiturn: bool = False  # the judge maps each answer to an option and the episode goes on
    hint: bool = False  # the generic OEG hint is appended to the question


OEG_VARIANTS: Mapping[str, OegVariant] = MappingProxyType({
    "oeg": OegVariant("oeg", "single-turn open-ended answers judged by an LLM (paper Table 2)", OEG_METRICS),
    "oeg_hint": OegVariant("oeg_hint", "single-turn open-ended answers with the generic OEG hint, judged by an LLM",
                           OEG_METRICS, hint=True),
    "oeg_multiturn": OegVariant("oeg_multiturn", "multi-turn open-ended episodes, each answer mapped to an option by "
                                "the judge (paper Table 10)", ("acc", "psr"), multiturn=True),
})


def oeg_tasks() -> dict[str, tuple[str, str]]:
    """Every open-ended task: name -> (OEG variant, scenario acronym)."""
    return {task_name(name, acronym): (name, acronym) for name in OEG_VARIANTS for acronym in SCENARIO_ACRONYMS}


def variant_metrics(name: str) -> tuple[str, ...]:
    """The metrics a variant's tasks report, MCQA or OEG."""
    if name in OEG_VARIANTS:
        return OEG_VARIANTS[name].metrics
    return get_variant(name).metrics
