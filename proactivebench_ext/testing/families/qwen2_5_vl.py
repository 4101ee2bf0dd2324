"""A tiny randomly initialised Qwen2.5-VL (the paper's 4-row family), built offline.

The checkpoint has Qwen2.5-VL's real layout: a windowed ViT with 14 px patches merged 2x2, an
M-RoPE Qwen2 decoder, ``Qwen2_5_VLProcessor`` with the torchvision image processor (min/max
pixels as the released checkpoints ship them) and video processor, and the family's chat template
(default system turn, ``<|vision_start|><|image_pad|><|vision_end|>`` per image, generation
prompt ``<|im_start|>assistant``). lmms-eval's ``qwen2_5_vl`` backend loads it with
``device=cpu,device_map=cpu``.

What makes it useful for conformance tests, not only for smoke tests:

- The tokenizer (byte-level BPE trained on the benchmark's texts) has every proactive option,
  abstain option, category and option letter ("A." ...) of the synthetic set as ONE token
  (:func:`answer_tokens`), and the saved generation config lets the model emit only those tokens
  and end-of-sequence. A greedy reply is then a short run of such tokens: a letter first picks an
  option (so requests get accepted and episodes have several turns), a whole option or category
  followed by end-of-sequence matches by text, anything else is a mismatch.
- A large init range (0.2, the projectors re-drawn too) keeps the greedy reply dependent on the
  image and the prompt; at 0.02 a random Qwen emits one token whatever it is shown.
- :func:`end_after_answers` gives every answer token's input embedding a large shared component
  and points end-of-sequence's output row along it, so a reply is nearly always one answer token
  and end-of-sequence (measured: 26 of 28 first turns of the embedded set): whole options match
  by text, and replies cost two decoding steps instead of the 50 our tasks allow.

``build(out_dir, seed=...)`` returns the checkpoint folder and skips the work when a complete
checkpoint built with the same arguments is already there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .common import INIT_RANGE, LETTERS, answer_tokens, answers_only, cached_build, redraw

MIN_PIXELS = 56 * 56  # as in the released Qwen2.5-VL preprocessor configs
MAX_PIXELS = 28 * 28 * 16384
QWEN_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                       "<|image_pad|>", "<|video_pad|>"]

# The structure of Qwen2.5-VL-Instruct's chat template: a default system turn, images and videos
# as vision spans in content order, the assistant generation prompt.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_tokenizer(extra_special: Iterable[str] = (), vocab_size: int = 400) -> Any:
    """A Qwen-style tokenizer: byte-level BPE over the benchmark's texts, Qwen's special tokens
    (``<|im_end|>`` ends a turn and generation), the answer tokens as whole words."""
    from transformers import PreTrainedTokenizerFast

    from ..tiny_models import train_bpe

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_bpe(vocab_size, ["<unk>"]), unk_token="<unk>",
                                        eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        clean_up_tokenization_spaces=False)
    tokenizer.add_special_tokens({"additional_special_tokens": [*QWEN_SPECIAL_TOKENS, *extra_special]})
    tokenizer.add_tokens(answer_tokens())
    return tokenizer


def end_after_answers(model: Any, tokenizer: Any, seed: int, *, strength: float = 60.0,
                      letter_weight: float = 2.2) -> None:
    """Make end-of-sequence follow an answer token: answer tokens share a large embedding
    direction ``u`` (it dominates the residual stream at their position) and the EOS output row
    is ``u`` at the average row norm. Elsewhere ``u`` is nearly orthogonal to the hidden state, so
    the first token is still decided by the image and the prompt. Letter rows weigh
    ``letter_weight`` times more, so letters (which pick a shown option in any scenario) come
    first more often than whole wordings (most of which belong to other scenarios)."""
    import torch

    generator = torch.Generator().manual_seed(seed + 1)
    embeddings, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    with torch.no_grad():
        direction = torch.randn(embeddings.shape[1], generator=generator)
        direction /= direction.norm()
        answers = tokenizer.convert_tokens_to_ids(answer_tokens())
        embeddings[answers] += strength * direction
        head[tokenizer.eos_token_id] = direction * head.norm(dim=1).mean()
        head[tokenizer.convert_tokens_to_ids(answer_tokens()[:LETTERS])] *= letter_weight


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL checkpoint (model, tokenizer, processor) to ``out_dir``."""
    arguments = {"family": "qwen2_5_vl", "seed": seed, "init_range": INIT_RANGE, "format": 2}
    return cached_build(out_dir, arguments, lambda folder: _write(folder, seed))


def _write(folder: Path, seed: int) -> None:
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = qwen_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    hidden, heads = 64, 2
    text = {"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": heads, "num_key_value_heads": 1, "max_position_embeddings": 4096,
            "initializer_range": INIT_RANGE, "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            # M-RoPE: temporal, height and width sections sum to head_dim / 2
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]}}
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56, "out_hidden_size": hidden,
              "fullatt_block_indexes": [1], "initializer_range": INIT_RANGE}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                              video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                              vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    redraw(model, INIT_RANGE, seed)
    end_after_answers(model, tokenizer, seed)
    generation = model.generation_config
    generation.bos_token_id, generation.pad_token_id = ids["<|endoftext|>"], ids["<|endoftext|>"]
    generation.eos_token_id = ids["<|im_end|>"]
    generation.suppress_tokens = answers_only(tokenizer)
    model.save_pretrained(folder)

    pixels = {"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels, patch_size=14, merge_size=2,
                                                                          temporal_patch_size=2),
                                    tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
                                    chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(folder)
