"""A tiny randomly initialised LLaVA-OneVision (the paper's 3-row family), built offline.

The checkpoint has LLaVA-OneVision's real layout: a SigLIP vision tower, the "anyres_max_9"
image pipeline (a base view plus grid tiles chosen from ``image_grid_pinpoints``, unpadded, with
an ``image_newline`` per row), a Qwen2 decoder, ``LlavaOnevisionProcessor`` with the torchvision
image and video processors, and the family's chat template (``<|im_start|>`` turns, every image
as ``<image>\\n`` before the turn's text, no default system turn, generation prompt
``<|im_start|>assistant``). lmms-eval's ``llava_hf`` backend loads it with ``device_map=cpu``.

It shares the Qwen2.5-VL builder's answer vocabulary and tricks (see
:mod:`.qwen2_5_vl`): whole options, categories and option letters are single tokens, the
generation config lets the model emit only those and end-of-sequence, a reply is nearly always
one answer token then end-of-sequence, and the 0.2 init range keeps replies dependent on the
input. The weights are saved in float32 (as a user's fine-tuned checkpoint may be), so
``dtype=auto`` and ``dtype=bfloat16`` really differ.

``build(out_dir, seed=...)`` returns the checkpoint folder and skips the work when a complete
checkpoint built with the same arguments is already there.
"""

from __future__ import annotations

from pathlib import Path

from .common import INIT_RANGE, answers_only, cached_build, redraw
from .qwen2_5_vl import end_after_answers, qwen_tokenizer

IMAGE_SIZE = 28  # the vision tower's input (384 in the released checkpoints)
PATCH_SIZE = 14
GRID = 3  # pinpoints up to 3x3 tiles (6x6 of 384 px in the released checkpoints)

# The structure of llava-onevision-qwen2-*-ov-hf's chat template: each turn's images, then its
# videos, then its text; assistant text wrapped for generation masks; the generation prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] }}{% endgeneration %}{% endfor %}"
    "{% endif %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-OneVision checkpoint (model, tokenizer, processor) to ``out_dir``."""
    arguments = {"family": "llava_onevision", "seed": seed, "init_range": INIT_RANGE, "format": 2}
    return cached_build(out_dir, arguments, lambda folder: _write(folder, seed))


def _write(folder: Path, seed: int) -> None:
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tokenizer = qwen_tokenizer(extra_special=["<image>", "<video>"])
    end, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    pinpoints = [[IMAGE_SIZE * rows, IMAGE_SIZE * columns] for rows in range(1, GRID + 1) for columns in range(1, GRID + 1)]
    vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE}
    text = {"model_type": "qwen2", "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 8192,
            "initializer_range": INIT_RANGE, "bos_token_id": pad, "eos_token_id": end, "pad_token_id": pad,
            "tie_word_embeddings": False}
    config = LlavaOnevisionConfig(vision_config=vision, text_config=text,
                                  image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                                  video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
                                  vision_feature_select_strategy="full", vision_feature_layer=-1,
                                  image_grid_pinpoints=pinpoints, vision_aspect_ratio="anyres_max_9",
                                  tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    redraw(model, INIT_RANGE, seed)
    end_after_answers(model, tokenizer, seed)
    generation = model.generation_config
    generation.bos_token_id, generation.pad_token_id, generation.eos_token_id = pad, pad, end
    generation.suppress_tokens = answers_only(tokenizer)
    model.save_pretrained(folder)

    image_processor = LlavaOnevisionImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                                   image_grid_pinpoints=pinpoints)
    num_image_tokens = (IMAGE_SIZE // PATCH_SIZE) ** 2
    processor = LlavaOnevisionProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                        video_processor=LlavaOnevisionVideoProcessor(), num_image_tokens=num_image_tokens,
                                        vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_9",
                                        chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(folder)
