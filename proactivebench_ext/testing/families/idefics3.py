"""Tiny randomly initialised Idefics3 and SmolVLM2 checkpoints (the two share one architecture line).

Both have a SigLIP-style vision encoder, the pixel-shuffle connector (``scale_factor``) and a
Llama-shaped decoder; their processors split large images into tiles plus a global view and wrap
image tokens in ``<fake_token_around_image>``. Chat templates as released:
Idefics3 ``<|begin_of_text|>User:<image>{prompt}<end_of_utterance>\\nAssistant:``, SmolVLM2
``<|im_start|>User:<image>{prompt}<end_of_utterance>\\nAssistant:``. SmolVLM2's processor carries a
video processor (torchvision) and needs ``num2words``. Played by lmms-eval's generic
``huggingface`` chat backend (fixed for transformers 5 in ``lmms.runtime.backends``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from .common import INIT_RANGE, cached_build, finish, llama_text, tokenizer_with

IMAGE_SIZE, PATCH, SCALE = 56, 14, 2  # 16 patches, pixel-shuffled into 4 image tokens per tile
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH) ** 2 // SCALE**2
SPECIAL = ["<|endoftext|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>",
           *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]]


def _template(bos: str) -> str:
    return (bos + "{% for message in messages %}{{ message['role'] | capitalize }}"
            "{% if message['content'] is string %}:{{ message['content'] }}{% else %}"
            "{% if message['content'][0]['type'] == 'image' %}:{% else %}: {% endif %}"
            "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
            "{% elif line['type'] == 'image' %}<image>{% endif %}{% endfor %}{% endif %}<end_of_utterance>\n"
            "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")


def build(out_dir: Path, *, variant: str = "idefics3", seed: int = 0) -> Path:
    """Write a tiny random Idefics3 (``variant="idefics3"``) or SmolVLM2 (``"smolvlm2"``) to ``out_dir``."""
    if variant not in ("idefics3", "smolvlm2"):
        raise ValueError(f"variant {variant!r}: expected idefics3 or smolvlm2")
    arguments = {"family": variant, "seed": seed, "format": 1}
    return cached_build(out_dir, arguments, partial(_write, variant=variant, seed=seed))


build_idefics3 = partial(build, variant="idefics3")
build_smolvlm2 = partial(build, variant="smolvlm2")


def _write(folder: Path, *, variant: str, seed: int) -> None:
    import torch
    import transformers as tf

    bos = "<|begin_of_text|>" if variant == "idefics3" else "<|im_start|>"
    tokenizer = tokenizer_with([bos, *SPECIAL], bos=bos, eos="<end_of_utterance>", pad="<|endoftext|>",
                               extra={"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
                                      "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})
    ids = tokenizer.convert_tokens_to_ids
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": IMAGE_SIZE, "patch_size": PATCH, "initializer_range": INIT_RANGE}
    size = {"longest_edge": IMAGE_SIZE * 2}
    tiles = {"longest_edge": IMAGE_SIZE}
    torch.manual_seed(seed)
    if variant == "idefics3":
        config = tf.Idefics3Config(vision_config=vision, text_config=llama_text(tokenizer), scale_factor=SCALE,
                                   image_token_id=ids("<image>"), tie_word_embeddings=False)
        model = tf.Idefics3ForConditionalGeneration(config)
        processor = tf.Idefics3Processor(image_processor=tf.Idefics3ImageProcessor(size=size, max_image_size=tiles),
                                         tokenizer=tokenizer, image_seq_len=IMAGE_SEQ_LEN, chat_template=_template(bos))
    else:
        config = tf.SmolVLMConfig(vision_config=vision, text_config=llama_text(tokenizer), scale_factor=SCALE,
                                  image_token_id=ids("<image>"), tie_word_embeddings=False)
        model = tf.SmolVLMForConditionalGeneration(config)
        processor = tf.SmolVLMProcessor(image_processor=tf.SmolVLMImageProcessor(size=size, max_image_size=tiles),
                                        tokenizer=tokenizer, video_processor=tf.SmolVLMVideoProcessor(),
                                        image_seq_len=IMAGE_SEQ_LEN, chat_template=_template(bos))
    finish(model.eval(), tokenizer, folder, seed)
    processor.save_pretrained(folder)
