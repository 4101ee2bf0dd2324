"""Tiny randomly initialised LLaVA-NeXT checkpoints: the Mistral and the Vicuna variant of Table 1.

Both have LLaVA-NeXT's any-resolution layout (a base view plus tiles picked from
``image_grid_pinpoints``, an ``image_newline`` embedding), ``LlavaNextProcessor`` and the
variant's chat template: Mistral's ``[INST] <image>\\n{prompt} [/INST]``, Vicuna's system line then
``USER: <image>\\n{prompt} ASSISTANT:``. Played by lmms-eval's ``llava_hf`` backend.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from .common import cached_build, clip_vision, finish, llama_text, llava_tokenizer

IMAGE_SIZE, PATCH = 28, 14
PINPOINTS = [[28, 28], [28, 56], [56, 28], [56, 56]]
VICUNA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions.")


def _content() -> str:
    return ("{% if message['content'] is string %}{{ message['content'] }}{% else %}"
            "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>\n"
            "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}")


CHAT_TEMPLATES = {
    "mistral": ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
                + _content() + " [/INST]{% elif message['role'] == 'assistant' %} " + _content()
                + "</s>{% endif %}{% endfor %}"),
    "vicuna": ("{{ bos_token }}" + VICUNA_SYSTEM + " {% for message in messages %}{% if message['role'] == 'user' %}USER: "
               + _content() + " {% elif message['role'] == 'assistant' %}ASSISTANT: " + _content()
               + "</s>{% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"),
}


def build(out_dir: Path, *, variant: str = "mistral", seed: int = 0) -> Path:
    """Write a tiny random LLaVA-NeXT (``variant`` mistral or vicuna) to ``out_dir``."""
    if variant not in CHAT_TEMPLATES:
        raise ValueError(f"LLaVA-NeXT variant {variant!r}: expected one of {sorted(CHAT_TEMPLATES)}")
    arguments = {"family": "llava_next", "variant": variant, "seed": seed, "format": 1}
    return cached_build(out_dir, arguments, partial(_write, variant=variant, seed=seed))


build_mistral = partial(build, variant="mistral")
build_vicuna = partial(build, variant="vicuna")


def _write(folder: Path, *, variant: str, seed: int) -> None:
    import torch
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    tokenizer = llava_tokenizer()
    vision = clip_vision(IMAGE_SIZE, PATCH)
    text = llama_text(tokenizer, model_type="mistral" if variant == "mistral" else "llama")
    config = LlavaNextConfig(vision_config=vision, text_config=text, image_grid_pinpoints=PINPOINTS,
                             image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                             vision_feature_select_strategy="default", vision_feature_layer=-2,
                             image_seq_length=(IMAGE_SIZE // PATCH) ** 2, tie_word_embeddings=False)
    torch.manual_seed(seed)
    finish(LlavaNextForConditionalGeneration(config).eval(), tokenizer, folder, seed)
    image_processor = LlavaNextImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                              crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                              image_grid_pinpoints=PINPOINTS)
    LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                       vision_feature_select_strategy="default", num_additional_image_tokens=1,
                       chat_template=CHAT_TEMPLATES[variant]).save_pretrained(folder)
