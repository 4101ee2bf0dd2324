"""A tiny randomly initialised InternVL3 in the transformers (``-hf``) format.

InternViT-style vision encoder, pixel-shuffle MLP projector and a Qwen2 decoder, with
``InternVLProcessor`` (GOT-OCR2 tiling image processor, InternVL video processor: torchvision)
and InternVL3's chat template: ChatML with a default system turn and ``<IMG_CONTEXT>`` image
spans inside ``<img>...</img>``. Played by lmms-eval's ``internvl_hf`` backend (the original
``trust_remote_code`` checkpoints need the ``internvl3`` backend and a model hub; not tested here).
"""

from __future__ import annotations

from pathlib import Path

from .common import INIT_RANGE, cached_build, finish, llama_text, tokenizer_with

IMAGE_SIZE, PATCH = 56, 14  # 16 patches, pixel-shuffled (0.5) into 4 image tokens per tile
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH) ** 2 // 4
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
SYSTEM = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n" + SYSTEM + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif content['type'] == 'video' %}<video>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random InternVL3 (HF format) checkpoint to ``out_dir``."""
    return cached_build(out_dir, {"family": "internvl3", "seed": seed, "format": 1}, lambda folder: _write(folder, seed))


def _write(folder: Path, seed: int) -> None:
    import torch
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    tokenizer = tokenizer_with(SPECIAL, bos=None, eos="<|im_end|>", pad="<|endoftext|>",
                               extra={"start_image_token": "<img>", "end_image_token": "</img>",
                                      "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": [IMAGE_SIZE, IMAGE_SIZE], "patch_size": [PATCH, PATCH], "initializer_range": INIT_RANGE}
    config = InternVLConfig(vision_config=vision, text_config=llama_text(tokenizer, model_type="qwen2"),
                            image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
                            downsample_ratio=0.5, image_seq_length=IMAGE_SEQ_LEN, tie_word_embeddings=False)
    torch.manual_seed(seed)
    finish(InternVLForConditionalGeneration(config).eval(), tokenizer, folder, seed)
    image_processor = GotOcr2ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, crop_to_patches=False,
                                                min_patches=1, max_patches=12)
    InternVLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=InternVLVideoProcessor(),
                      image_seq_length=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE).save_pretrained(folder)
