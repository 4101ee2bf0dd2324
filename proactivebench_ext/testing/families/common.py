"""Shared pieces of the tiny family builders: a tokenizer with a family's special tokens, small
vision/text configs, and the finishing steps every builder takes (redrawn weights, answer-only
generation, saving).

Every family's tiny model answers the same way: greedy runs of whole answers ("A.", an option, a
category; :func:`answer_tokens`) that depend on the image and the prompt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["INIT_RANGE", "LETTERS", "answer_tokens", "answers_only", "cached_build", "clip_vision", "finish",
           "llama_text", "llava_tokenizer", "redraw", "tokenizer_with"]

INIT_RANGE = 0.2
HIDDEN = 64
LETTERS = 8  # answer tokens "A." ... "H."
BUILD_MARKER = "proactivebench_tiny.json"  # written last: its presence (same arguments) means the build is complete


def answer_tokens() -> list[str]:
    """Whole answers the tiny models can emit as one token: option letters, every proactive and
    abstain option wording and every category of the synthetic set."""
    from importlib import resources

    from ...data import synth

    wordings = json.loads((resources.files("proactivebench_ext") / "resources" / "proactive_options.json")
                          .read_text("utf-8"))["options"]
    answers = [f"{chr(65 + i)}." for i in range(LETTERS)]
    answers += [option for options in wordings.values() for option in options]
    answers += [*synth.ABSTAIN, *synth.PEOPLE, *sorted(synth.SHAPES)]
    return list(dict.fromkeys(answers))


def answers_only(tokenizer: Any, ends: Iterable[int] | None = None) -> list[int]:
    """``suppress_tokens`` for a generation config: every id but the end tokens (end-of-turn by
    default) and the answer tokens."""
    allowed = {*(ends if ends is not None else [tokenizer.eos_token_id]), *tokenizer.convert_tokens_to_ids(answer_tokens())}
    return [i for i in range(len(tokenizer)) if i not in allowed]


def redraw(model: Any, init_range: float, seed: int) -> None:
    """Re-draw every weight matrix from N(0, init_range) (transformers zero-initialises some
    projectors), so a random model's output depends on its input."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * init_range)


def cached_build(out_dir: Path, arguments: dict[str, Any], write: Callable[[Path], None]) -> Path:
    """Run ``write(out_dir)`` unless ``out_dir`` holds a complete build with the same arguments."""
    out_dir = Path(out_dir)
    marker = out_dir / BUILD_MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text("utf-8")) == arguments:
                return out_dir
        except ValueError:
            pass  # a damaged marker: build again
        marker.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    write(out_dir)
    marker.write_text(json.dumps(arguments, sort_keys=True), encoding="utf-8")
    return out_dir


def tokenizer_with(special: Iterable[str], *, bos: str | None, eos: str, pad: str, unk: str = "<unk>",
                   extra: Mapping[str, str] | None = None, padding_side: str = "left",
                   vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer over the benchmark's texts with a family's special tokens and the
    answer tokens as whole words. ``extra`` names special tokens as attributes (``image_token``)."""
    from transformers import PreTrainedTokenizerFast

    from ..tiny_models import train_bpe

    specials = list(dict.fromkeys([unk, *special]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_bpe(vocab_size, specials), unk_token=unk, eos_token=eos,
                                        pad_token=pad, bos_token=bos, padding_side=padding_side,
                                        clean_up_tokenization_spaces=False, extra_special_tokens=dict(extra or {}))
    tokenizer.add_tokens(answer_tokens())
    return tokenizer


def llava_tokenizer() -> Any:
    """LLaVA-1.5's and LLaVA-NeXT's tokenizer: Llama's special tokens and ``<image>``."""
    return tokenizer_with(["<s>", "</s>", "<pad>", "<image>"], bos="<s>", eos="</s>", pad="<pad>",
                          extra={"image_token": "<image>"})


def clip_vision(image_size: int, patch: int) -> Any:
    """A two-layer CLIP vision tower, the one LLaVA-1.5 and LLaVA-NeXT put in front of the text model."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                            image_size=image_size, patch_size=patch, projection_dim=32, initializer_range=INIT_RANGE)


def llama_text(tokenizer: Any, **overrides: Any) -> dict[str, Any]:
    """A two-layer Llama-shaped decoder config (also good for Mistral, Qwen2 and Vicuna-style text models)."""
    text = {"vocab_size": len(tokenizer), "hidden_size": HIDDEN, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 8192,
            "initializer_range": INIT_RANGE, "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "tie_word_embeddings": False}
    return {**text, **overrides}


def finish(model: Any, tokenizer: Any, folder: Path, seed: int, *, eos_ids: Iterable[int] = ()) -> None:
    """Redraw the weights, let generation emit only answer tokens and end-of-turn, save the model."""
    redraw(model, INIT_RANGE, seed)
    ends = list(dict.fromkeys([tokenizer.eos_token_id, *eos_ids]))
    generation = model.generation_config
    generation.eos_token_id = ends if len(ends) > 1 else ends[0]
    generation.pad_token_id = tokenizer.pad_token_id
    generation.bos_token_id = tokenizer.bos_token_id
    generation.suppress_tokens = answers_only(tokenizer, ends)
    generation.do_sample = False
    model.save_pretrained(folder)

