"""A tiny randomly initialised Gemma 3 for lmms-eval's unmodified, truly batched ``gemma3`` backend.

Why Gemma 3: of lmms-eval 0.7.3's backends it is the one that, on CPU with torch 2.13 and no
torchvision, loads a local checkpoint and answers ``batch_size=N`` requests with ONE
``model.generate`` over a left-padded batch. Transformers 5 has a PIL image processor for it and
its processor has no video processor (those need torchvision: GLM-4V, Qwen2-VL, Gemma 4, ...).
The one extra requirement: ``lmms_eval/models/simple/gemma3.py`` imports PyAV (``av``, a declared
lmms-eval dependency, not in the lean install) at module top, only for video.

Use it as (``batch_size`` must go through ``--batch_size``: the CLI always passes its own
``batch_size``, so ``batch_size=8`` inside ``--model_args`` fails with "got multiple values for
keyword argument 'batch_size'", and lmms-eval still exits 0)::

    path = build_tiny_gemma3(tmp / "tiny-gemma3", size="small")
    python -m lmms_eval --model gemma3 --model_args pretrained=<path>,device=cpu,device_map=cpu
        --batch_size 8 --tasks proactive_rod ...

Backend facts the checkpoint is shaped around:

- It loads the model in bfloat16 (no dtype argument) and defaults to ``device="cuda"``,
  ``device_map="auto"``: pass ``device=cpu,device_map=cpu``. In bfloat16, batched and one-at-a-time
  greedy replies differ now and then (padding changes the rounding; measured with 50 new tokens:
  27/32 identical for "small", 18/32 for "bench"; in float32 32/32): compare answers loosely, or
  use ``letters_only`` where only the first token decides.
- It takes each request's own ``doc_to_visual`` callable and task/split (no ``[0]`` shortcut),
  sorts a call's requests by prompt length and restores their order, groups them by gen_kwargs,
  prepends a system turn ("You are a helpful assistant."), sends images as JPEG data URLs
  (quality 85) and pads with ``pad_to_multiple_of=8``.
- Padding side comes from the tokenizer saved here: LEFT (right padding would make batched greedy
  decoding wrong).
- It does not pass ``eos_token_id``; the saved generation config suppresses every end token, so
  each reply is exactly ``max_new_tokens`` tokens long and timings at different batch sizes are
  comparable. It cuts replies at ``until`` strings (our tasks send ``until: []``).
- Images are resized to ``image_size`` squared (28 px "small", 56 px "bench") and pooled into
  4 / 16 image tokens, so the text decoder dominates the cost.

A large ``init_range`` (0.2; the multimodal projector, zero-initialised by transformers, is
re-drawn too) and untied input/output embeddings (tied, a random model just repeats its last
input token, a newline) keep greedy outputs dependent on the image and the prompt.
"""

from __future__ import annotations

from pathlib import Path

from .tiny_models import train_bpe

BOS, EOS, PAD = "<bos>", "<eos>", "<pad>"
BOI, EOI, IMAGE = "<start_of_image>", "<end_of_image>", "<image_soft_token>"
START_TURN, END_TURN = "<start_of_turn>", "<end_of_turn>"
SPECIAL_TOKENS = [PAD, EOS, BOS, "<unk>", START_TURN, END_TURN, BOI, EOI, IMAGE]

# Gemma's layout; the processor expands <start_of_image> into BOI + image_seq_length soft tokens + EOI.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<start_of_image>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# "small": 0.87M parameters, for tests. "bench": 21.3M, so that generation, not Python overhead,
# dominates timings (the corpus caps the trained vocabulary below ``vocab``: ~590 tokens).
# An image is resized to image_size x image_size, cut into 14-px patches, pooled into mm_tokens.
SIZES = {
    "small": dict(vocab=400, hidden=128, layers=3, heads=4, kv_heads=2, head_dim=32, intermediate=512,
                  v_hidden=32, v_layers=1, v_heads=2, v_intermediate=64, image_size=28, mm_tokens=4),
    "bench": dict(vocab=2000, hidden=384, layers=9, heads=6, kv_heads=2, head_dim=64, intermediate=1600,
                  v_hidden=128, v_layers=3, v_heads=4, v_intermediate=512, image_size=56, mm_tokens=16),
}
PATCH = 14


def train_tokenizer(vocab_size: int):
    """:func:`train_bpe` with Gemma 3's special tokens; pads on the LEFT (batched greedy decoding)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=train_bpe(vocab_size, SPECIAL_TOKENS), bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, unk_token="<unk>", padding_side="left",
                                   extra_special_tokens={"boi_token": BOI, "eoi_token": EOI, "image_token": IMAGE})


def build_tiny_gemma3(path: Path | str, *, size: str = "small", seed: int = 0, init_range: float = 0.2,
                      letters_only: int = 0) -> Path:
    """Write a random-weight Gemma 3 (model, tokenizer, processor) to ``path`` and return it.

    ``letters_only=n`` makes it answer like a multiple-choice model: it may only emit the n tokens
    "A." ... (e.g. "C.A.A.B." ...), so each answer is read as an option letter, some requests get
    accepted and episodes run several rounds. Which first letter depends on image and prompt
    (seed 0, init 0.2, n=4, first prompts of the embedded set: C 20, A 7, B 1 of 28); larger init
    ranges make it answer one letter everywhere.
    """
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    path = Path(path)
    dims = SIZES[size]
    tokenizer = train_tokenizer(dims["vocab"])
    letter_tokens = [f"{chr(65 + i)}." for i in range(letters_only)]
    tokenizer.add_tokens(letter_tokens)
    token_id = tokenizer.convert_tokens_to_ids
    # Untied embeddings: tied, a random model just repeats its last input token.
    text = dict(vocab_size=len(tokenizer), hidden_size=dims["hidden"], intermediate_size=dims["intermediate"],
                num_hidden_layers=dims["layers"], num_attention_heads=dims["heads"],
                num_key_value_heads=dims["kv_heads"], head_dim=dims["head_dim"],
                query_pre_attn_scalar=dims["head_dim"], sliding_window=512, max_position_embeddings=4096,
                initializer_range=init_range, pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                tie_word_embeddings=False)
    vision = dict(model_type="siglip_vision_model", hidden_size=dims["v_hidden"],
                  intermediate_size=dims["v_intermediate"], num_hidden_layers=dims["v_layers"],
                  num_attention_heads=dims["v_heads"], image_size=dims["image_size"], patch_size=PATCH,
                  vision_use_head=False)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=dims["mm_tokens"],
                          boi_token_index=token_id(BOI), eoi_token_index=token_id(EOI),
                          image_token_index=token_id(IMAGE), initializer_range=init_range,
                          tie_word_embeddings=False)
    config.vision_config.initializer_range = init_range
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config).eval()
    with torch.no_grad():  # transformers zero-initialises it, which would make images invisible
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, init_range)
    generation = model.generation_config
    ends = [tokenizer.eos_token_id, token_id(END_TURN)]
    generation.eos_token_id = ends
    generation.pad_token_id = tokenizer.pad_token_id
    generation.bos_token_id = tokenizer.bos_token_id
    generation.suppress_tokens = ends  # fixed-length replies: no end token is ever chosen
    if letters_only:
        allowed = set(token_id(letter_tokens))
        generation.suppress_tokens = [i for i in range(len(tokenizer)) if i not in allowed]
    generation.do_sample = False
    model.save_pretrained(path)

    image_processor = Gemma3ImageProcessorPil(size={"height": dims["image_size"], "width": dims["image_size"]})
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
                                image_seq_length=dims["mm_tokens"])
    processor.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def count_parameters(path: Path | str) -> int:
    from transformers import Gemma3ForConditionalGeneration

    return sum(p.numel() for p in Gemma3ForConditionalGeneration.from_pretrained(path).parameters())
