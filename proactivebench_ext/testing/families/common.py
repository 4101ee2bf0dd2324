"""Shared pieces of the tiny family builders: a tokenizer with a family's special tokens, small
vision/text configs, and the finishing steps every builder takes (redrawn weights, answer-only
generation, saving).

The cached build, the weight re-draw and the answer tokens come from :mod:`.qwen2_5_vl`, so every
family's tiny model answers the same way: greedy runs of whole answers ("A.", an option, a
category) that depend on the image and the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .qwen2_5_vl import answer_tokens, cached_build, redraw

__all__ = ["INIT_RANGE", "answer_tokens", "cached_build", "clip_vision", "finish", "llama_text", "llava_tokenizer",
           "tokenizer_with"]

INIT_RANGE = 0.2
HIDDEN = 64


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
    allowed = set(ends) | set(tokenizer.convert_tokens_to_ids(answer_tokens()))
    generation.suppress_tokens = [i for i in range(len(tokenizer)) if i not in allowed]
    generation.do_sample = False
    model.save_pretrained(folder)

