"""The version-gated backend fixes (proactivebench_ext.lmms.runtime.backends)."""

from __future__ import annotations

from typing import Any

import torch

from proactivebench_ext.lmms.runtime import backends


class RecordingProcessor:
    tokenizer = "the tokenizer"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> str:
        if "audios" in kwargs:
            raise ValueError("You passed keyword argument `audios` which is deprecated.")
        self.calls.append(kwargs)
        return "inputs"


class FakeChatBackend:
    def __init__(self) -> None:
        self.processor = RecordingProcessor()

    def generate_until(self, requests: list[str]) -> list[str]:
        return [self.processor(text=[r], images=[], videos=[], audios=[]) for r in requests]


def test_empty_media_lists_are_left_out_and_the_rest_is_passed_on():
    processor = backends.MediaFilteringProcessor(RecordingProcessor())
    assert processor(text=["t"], images=["img"], videos=[], audios=[]) == "inputs"
    assert processor.wrapped.calls == [{"text": ["t"], "images": ["img"]}]
    assert processor.tokenizer == "the tokenizer"


def test_filter_media_wraps_the_backends_processor_once():
    stock = FakeChatBackend.generate_until
    patched = backends.filter_media(stock)
    backend = FakeChatBackend()
    assert patched(backend, ["a", "b"]) == ["inputs", "inputs"]
    wrapper = backend.processor
    patched(backend, ["c"])
    assert backend.processor is wrapper and isinstance(wrapper, backends.MediaFilteringProcessor)
    assert [call["text"] for call in wrapper.wrapped.calls] == [["a"], ["b"], ["c"]]
    assert patched.__wrapped_stock__ is stock


def test_generate_returns_only_the_tokens_after_the_prompt():
    prompt = torch.tensor([[5, 6, 7]])
    full = backends.new_tokens_only(lambda **kwargs: torch.tensor([[5, 6, 7, 1, 2]]))
    assert full(input_ids=prompt).tolist() == [[1, 2]]
    fresh = backends.new_tokens_only(lambda **kwargs: torch.tensor([[1, 2]]))
    assert fresh(input_ids=prompt).tolist() == [[1, 2]], "an output without the prompt is returned as it is"
    other = backends.new_tokens_only(lambda **kwargs: torch.tensor([[5, 9, 7, 1]]))
    assert other(input_ids=prompt).tolist() == [[5, 9, 7, 1]]


def test_install_patches_both_backends_once_on_the_tested_versions():
    from lmms_eval.models.chat.huggingface import Huggingface
    from lmms_eval.models.simple.instructblip import InstructBLIP

    assert backends.lmms_eval_version() in backends.TESTED_LMMS_EVAL and backends.transformers_major() >= 5
    assert backends.install() is True
    media, prompt = Huggingface.generate_until, InstructBLIP.generate_until
    assert hasattr(media, "__wrapped_stock__") and hasattr(prompt, "__wrapped_stock__")
    assert backends.install() is True
    assert Huggingface.generate_until is media and InstructBLIP.generate_until is prompt


def test_install_leaves_other_lmms_eval_versions_alone(monkeypatch):
    monkeypatch.setattr(backends, "lmms_eval_version", lambda: "0.8.0")
    assert backends.install() is False and backends.install_on_import() is False


def test_a_backend_module_imported_after_the_hook_is_fixed(monkeypatch):
    import sys

    name = "lmms_eval.models.chat.huggingface"
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    assert backends.install_on_import() is True
    import importlib

    module = importlib.import_module(name)
    assert module is not None and module.AutoModel is backends.GenerativeAutoModel
    assert hasattr(module.Huggingface.generate_until, "__wrapped_stock__")


def test_the_generative_fallback_loads_the_class_with_a_language_model_head(tmp_path):
    """lmms-eval's lookup sends an Idefics3 checkpoint to AutoModel (no generate); the stand-in does not."""
    import transformers

    text = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1}
    vision = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 28, "patch_size": 14}
    config = transformers.Idefics3Config(text_config=text, vision_config=vision, scale_factor=2, image_token_id=3)
    transformers.Idefics3ForConditionalGeneration(config).save_pretrained(tmp_path)
    assert config.model_type not in transformers.AutoModelForImageTextToText._model_mapping.keys()
    model = backends.GenerativeAutoModel.from_pretrained(tmp_path)
    assert isinstance(model, transformers.Idefics3ForConditionalGeneration) and hasattr(model, "generate")
