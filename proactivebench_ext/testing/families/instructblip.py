"""A tiny randomly initialised InstructBLIP (BLIP-2 vision encoder, instruction-aware Q-Former,
Vicuna-style Llama decoder).

InstructBLIP has no chat template: the prompt goes in as plain text, once to the decoder (after
the query tokens, which the processor inserts as ``<image>`` tokens) and once to the Q-Former
through its own (BERT-style) tokenizer. Played by lmms-eval's ``instructblip`` backend.
"""

from __future__ import annotations

from pathlib import Path

from .common import INIT_RANGE, cached_build, finish, llama_text, tokenizer_with

IMAGE_SIZE, PATCH, QUERIES = 28, 14, 4


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random InstructBLIP checkpoint (model, both tokenizers, processor) to ``out_dir``."""
    return cached_build(out_dir, {"family": "instructblip", "seed": seed, "format": 1},
                        lambda folder: _write(folder, seed))


def _write(folder: Path, seed: int) -> None:
    import torch
    from transformers import BlipImageProcessor, InstructBlipConfig, InstructBlipForConditionalGeneration, InstructBlipProcessor

    # "<image>" is in the vocabulary; the processor names it its image token (as an AddedToken) itself.
    tokenizer = tokenizer_with(["<s>", "</s>", "<pad>", "<image>"], bos="<s>", eos="</s>", pad="<pad>")
    qformer_tokenizer = tokenizer_with(["[PAD]", "[CLS]", "[SEP]"], bos=None, eos="[SEP]", pad="[PAD]", unk="[UNK]",
                                       padding_side="right")
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": IMAGE_SIZE, "patch_size": PATCH, "initializer_range": INIT_RANGE}
    qformer = {"vocab_size": len(qformer_tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "encoder_hidden_size": 32, "pad_token_id": qformer_tokenizer.pad_token_id,
               "max_position_embeddings": 512, "initializer_range": INIT_RANGE}
    config = InstructBlipConfig(vision_config=vision, qformer_config=qformer, text_config=llama_text(tokenizer),
                                num_query_tokens=QUERIES, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                                tie_word_embeddings=False)
    torch.manual_seed(seed)
    finish(InstructBlipForConditionalGeneration(config).eval(), tokenizer, folder, seed)
    image_processor = BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    InstructBlipProcessor(image_processor=image_processor, tokenizer=tokenizer, qformer_tokenizer=qformer_tokenizer,
                          num_query_tokens=QUERIES).save_pretrained(folder)
