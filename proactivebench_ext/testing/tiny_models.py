"""Tiny randomly initialised vision-language models, built locally (no model hub).

They let the real pipeline run end to end on any CPU: the demo (``python -m proactivebench_ext
demo``) and the tests play the benchmark through lmms-eval's own backends with them.
``build_tiny_llava`` writes a LLaVA checkpoint (CLIP vision tower + Llama decoder, ~0.2M
parameters) with a byte-level BPE tokenizer trained on the benchmark's own texts, loadable by
lmms-eval's unmodified ``llava_hf`` backend with ``device_map=cpu``. A large init range makes the
greedy output depend on the image and prompt instead of collapsing to one token.
"""

from __future__ import annotations

import json
from pathlib import Path

# One user turn: image placeholder(s), then the text; lmms-eval's llava_hf chat backend sends
# content lists ({"type": "image"}, {"type": "text"}).
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}\n"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]


def corpus() -> list[str]:
    """Texts the model will see: the benchmark's prompts, hints and option wordings."""
    from importlib import resources

    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    data = json.loads((resources.files("proactivebench_ext") / "resources" / "benchmark.json").read_text("utf-8"))
    walk({key: data[key] for key in ("scenarios", "mcqa_template", "action_keywords")})
    texts += [f"{chr(65 + i)}. option" for i in range(26)]
    return texts


def train_bpe(vocab_size: int, special_tokens: list[str]):
    """A byte-level BPE ``tokenizers.Tokenizer`` over the benchmark's texts, so prompts take few tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    return tokenizer


def train_tokenizer(vocab_size: int = 400):
    """LLaVA's tokenizer: :func:`train_bpe` with Llama-style special tokens and an image token."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=train_bpe(vocab_size, SPECIAL_TOKENS), unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>"})


def build_tiny_llava(directory: Path, *, seed: int = 0, init_range: float = 0.2, image_size: int = 28,
                     patch_size: int = 14, letters_only: int = 0, extra_tokens: tuple[str, ...] = (),
                     hidden_size: int = 32, vocab_size: int = 400) -> Path:
    """Save a tiny random LLaVA (model + processor) to ``directory`` and return it.

    ``letters_only=n`` makes it answer like a multiple-choice model: its generation config
    suppresses every token but end-of-sequence and the n tokens "A." ... so every reply starts
    with an option letter (which letter still depends on image and prompt). That lets a random
    model make accepted requests, so multi-turn episodes happen through a real backend.
    ``extra_tokens`` are added to the vocabulary whole (``bench/grpo_learning.py`` adds "A. I", ...
    so a two-layer model can see which letter holds an abstain option).
    """
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    directory = Path(directory)
    tokenizer = train_tokenizer(vocab_size)
    letter_tokens = [f"{chr(65 + i)}." for i in range(letters_only)]
    tokenizer.add_tokens([*letter_tokens, *extra_tokens])
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    num_patches = (image_size // patch_size) ** 2
    vision = CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2, num_attention_heads=2,
                              image_size=image_size, patch_size=patch_size, projection_dim=hidden_size,
                              initializer_range=init_range)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=init_range)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1,
                         image_seq_length=num_patches, projector_hidden_act="gelu")
    config.initializer_range = init_range
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if letters_only:
        allowed = {tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(letter_tokens)}
        model.generation_config.suppress_tokens = [i for i in range(len(tokenizer)) if i not in allowed]
    model.save_pretrained(directory)

    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(directory)
    return directory


def main(argv: list[str] | None = None) -> int:
    """``python -m proactivebench_ext tiny-model DIR``: the demo's tiny LLaVA, for a CPU run of lmms-eval."""
    from ..cli import command_parser
    from ..demo import TINY_LLAVA

    parser = command_parser("tiny-model", __doc__)
    parser.add_argument("directory", type=Path, metavar="DIR", help="where the checkpoint goes (created)")
    parser.add_argument("--seed", type=int, default=TINY_LLAVA["seed"], help="weight initialisation seed")
    args = parser.parse_args(argv)
    build_tiny_llava(args.directory, **{**TINY_LLAVA, "seed": args.seed})
    print(f"{args.directory}: a random tiny LLaVA (answers with option letters; scores are noise). Evaluate it with\n"
          f"  python -m lmms_eval --model llava_hf --model_args pretrained={args.directory},device_map=cpu,device=cpu "
          "--tasks proactivebench --limit 4")
    return 0
