"""A tiny randomly initialised LLaVA-1.5 (CLIP vision tower, MLP projector, Llama/Vicuna decoder).

The chat template is LLaVA-1.5's ``USER: <image>\\n{prompt} ASSISTANT:``; the processor is
``LlavaProcessor`` with CLIP's image processor. Played by lmms-eval's ``llava_hf`` backend.
"""

from __future__ import annotations

from pathlib import Path

from .common import cached_build, clip_vision, finish, llama_text, llava_tokenizer

IMAGE_SIZE, PATCH = 28, 14
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% elif message['role'] == 'assistant' %}"
    "ASSISTANT: {% endif %}{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}</s>{% endif %} {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-1.5 checkpoint (model, tokenizer, processor) to ``out_dir``."""
    return cached_build(out_dir, {"family": "llava_1_5", "seed": seed, "format": 1}, lambda folder: _write(folder, seed))


def _write(folder: Path, seed: int) -> None:
    import torch
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer = llava_tokenizer()
    vision = clip_vision(IMAGE_SIZE, PATCH)
    config = LlavaConfig(vision_config=vision, text_config=llama_text(tokenizer),
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-2,
                         image_seq_length=(IMAGE_SIZE // PATCH) ** 2, tie_word_embeddings=False)
    torch.manual_seed(seed)
    finish(LlavaForConditionalGeneration(config).eval(), tokenizer, folder, seed)
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                   chat_template=CHAT_TEMPLATE).save_pretrained(folder)
