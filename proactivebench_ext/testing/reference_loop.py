"""A reference player: ProactiveBench's published MCQA evaluation protocol on transformers directly.

The benchmark's example evaluation loop plays each test entry in a fresh environment and, turn by
turn, asks the model with Hugging Face transformers, one request at a time. Written here from that
protocol (no lmms-eval, no code of ours outside the pure engine), so lmms-eval runs can be checked
against it turn by turn (``tests/integration/test_reference_loop.py``, docs/faithfulness.md):

- one user message per turn holding ONE image (the turn's frame; COCO: cropped to the turn's box)
  and then the multiple-choice prompt exactly as the engine builds it (``Turn.mcqa_prompt``);
  no history, no system prompt of ours (a family's template may add its own default one);
- the model's own chat template with the generation prompt;
- greedy decoding (``do_sample=False``) with ``max_new_tokens`` from ``benchmark.json``
  (``mcqa_generation``: 50, what our tasks force), every other generation setting from the
  checkpoint's generation config; batch size 1, so no padding;
- weights in bfloat16;
- the reply decoded without special tokens is the answer; the engine judges it and either shows
  the next image or ends the episode.

Family specifics follow each family's published usage: LLaVA-OneVision gets the image through its
processor (inputs cast to the model's dtype); Qwen2.5-VL gets it through ``qwen_vl_utils``'
``process_vision_info`` (a dependency of the benchmark's package) and the processor's own
min/max pixels. A processor that rejects an image raises, as in the reference (which then loses
the whole pass); our lmms-eval tasks make that one errored episode instead (docs/faults.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..core.constants import load_benchmark
from ..core.engine import Turn, new_episode
from ..core.naming import SCENARIO_ACRONYMS
from ..data.validate import scan_test_set

FAMILIES = ("llava_onevision", "qwen2_5_vl")  # config.model_type of the families played here


@dataclass(frozen=True)
class ReferenceTurn:
    """One turn as the reference plays it: what was shown and what the model said."""

    image_path: str  # relative to the data folder, as episode records write it
    crop: tuple[float, ...] | None
    mcqa_prompt: str
    chat_text: str  # the chat template's output, generation prompt included
    answer: str
    generated_ids: tuple[int, ...]


@dataclass(frozen=True)
class ReferenceEpisode:
    """A whole episode: its turns and how the engine scored it."""

    scenario: str
    sample_id: Any
    turns: tuple[ReferenceTurn, ...]
    correct: bool
    error: str | None

    @property
    def answers(self) -> list[str]:
        return [turn.answer for turn in self.turns]

    @property
    def num_turns(self) -> int:
        return len(self.turns)


class ReferencePlayer:
    """A checkpoint of a supported family, asked one request at a time with greedy decoding."""

    def __init__(self, checkpoint: str | Path, *, dtype: str = "bfloat16", device: str = "cpu",
                 max_new_tokens: int | None = None):
        import torch
        from transformers import AutoConfig, AutoProcessor

        self.family = AutoConfig.from_pretrained(checkpoint).model_type
        if self.family not in FAMILIES:
            raise ValueError(f"{checkpoint}: model_type {self.family!r} is not played by the reference loop "
                             f"(supported: {', '.join(FAMILIES)})")
        generation = load_benchmark().mcqa_generation
        self.max_new_tokens = int(max_new_tokens if max_new_tokens is not None else generation["max_new_tokens"])
        self.do_sample = bool(generation["do_sample"])
        self.device = torch.device(device)
        self.processor = AutoProcessor.from_pretrained(checkpoint)
        self.model = _model_class(self.family).from_pretrained(checkpoint, dtype=getattr(torch, dtype)).to(self.device).eval()

    def reply(self, image: Image.Image, text: str) -> tuple[str, str, tuple[int, ...]]:
        """(chat text, answer, generated ids) for one image and one prompt."""
        import torch

        if self.family == "qwen2_5_vl":
            from qwen_vl_utils import process_vision_info

            messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]
            chat = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            images, _ = process_vision_info(messages)
            inputs = self.processor(text=[chat], images=images, padding=True, return_tensors="pt").to(self.device)
        else:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            chat = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            inputs = self.processor(images=image, text=chat, return_tensors="pt").to(self.device, self.model.dtype)
        with torch.inference_mode():
            output = self.model.generate(**inputs, do_sample=self.do_sample, max_new_tokens=self.max_new_tokens)
        generated = output[0, inputs["input_ids"].shape[1]:]
        answer = self.processor.decode(generated, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return chat, answer, tuple(int(token) for token in generated)


def _model_class(family: str) -> Any:
    from transformers import LlavaOnevisionForConditionalGeneration, Qwen2_5_VLForConditionalGeneration

    return {"llava_onevision": LlavaOnevisionForConditionalGeneration,
            "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[family]


def turn_image(turn: Turn) -> Image.Image:
    """The turn's image as the reference shows it: opened, RGB, cropped to the turn's box if any."""
    with Image.open(turn.image_path) as image:
        shown = image.convert("RGB")
    return shown.crop(turn.crop) if turn.crop is not None else shown


def play_episode(player: ReferencePlayer, scenario: str, entry: Mapping[str, Any],
                 data_dir: str | Path) -> ReferenceEpisode:
    """Play one entry to its end (main variant: no hint, no reference mode)."""
    episode = new_episode(scenario, entry, data_dir)
    turns = []
    while not episode.done:
        turn = episode.observe()
        chat, answer, ids = player.reply(turn_image(turn), turn.mcqa_prompt)
        turns.append(ReferenceTurn(turn.relative_image_path, tuple(turn.crop) if turn.crop is not None else None,
                                   turn.mcqa_prompt, chat, answer, ids))
        episode.answer(answer)
    error = episode.stats.get("error")
    return ReferenceEpisode(episode.scenario.acronym, episode.sample.id, tuple(turns),
                            bool(episode.correct_prediction and error is None), error)


def play_test_set(player: ReferencePlayer, data_dir: str | Path,
                  scenarios: Iterable[str] = SCENARIO_ACRONYMS) -> list[ReferenceEpisode]:
    """Every playable test entry of ``scenarios`` in ``data_dir``, in file order.

    Rows with a data fault are skipped (the reference would crash on them); an exception from
    the model or its processor propagates, as it ends the reference's pass.
    """
    episodes = []
    for scenario in scenarios:
        for row in scan_test_set(scenario, data_dir):
            if row.fault is None and row.entry is not None:
                episodes.append(play_episode(player, scenario, row.entry, data_dir))
    return episodes
