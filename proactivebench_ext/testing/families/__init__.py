"""The paper's model families (Table 1), each with a tiny offline checkpoint builder and the
lmms-eval backend and ``--model_args`` that play it at the reference loop's settings.

``FAMILIES`` is the one table that docs/models.md documents and
tests/integration/test_model_families.py plays: for every family, the backend, the parity
arguments (bfloat16 as the reference loop, explicit attention implementation; greedy decoding
and ``max_new_tokens`` come from our tasks' ``generation_kwargs``; batch size 1 from
``--batch_size 1``), and a builder ``build(out_dir) -> Path`` of a tiny random checkpoint with
the family's real processor and chat-template structure. Builders are named as
``"module:function"`` and imported only when called (they import transformers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

# Model arguments every local-GPU row uses; the CPU tests replace device_map=auto by device=cpu,device_map=cpu.
GPU_PLACEMENT = "device_map=auto"
CPU_PLACEMENT = "device=cpu,device_map=cpu"


@dataclass(frozen=True)
class Family:
    """One row of Table 1's families and how lmms-eval 0.7.3 plays it."""

    name: str  # registry key, used in docs/models.md and the tests
    title: str  # as the paper names it
    checkpoints: tuple[str, ...]  # the released checkpoints of Table 1's rows
    backend: str  # lmms-eval --model
    parity_args: str  # --model_args beyond pretrained= and the device placement
    batches: str  # whether and how the backend batches
    builder: str | None  # "module:function" of the tiny builder (None: an API family)
    gpu_placement: str = GPU_PLACEMENT
    cpu_placement: str = CPU_PLACEMENT
    deviation: str = ""  # where the backend cannot match the reference loop's settings, and what that means

    def model_args(self, pretrained: str, *, cpu: bool = False) -> str:
        """The ``--model_args`` string of one run (on one GPU or more, or on the CPU)."""
        placement = self.cpu_placement if cpu else self.gpu_placement
        return ",".join(part for part in (f"pretrained={pretrained}", self.parity_args, placement) if part)

    def build(self, out_dir: Path) -> Path:
        """Build (or reuse) this family's tiny random checkpoint under ``out_dir``."""
        if self.builder is None:
            raise ValueError(f"{self.name} is an API family: there is no checkpoint to build")
        module, function = self.builder.split(":")
        builder: Callable[[Path], Path] = getattr(import_module(f"{__name__}.{module}"), function)
        return builder(Path(out_dir))


LLAVA_HF_ARGS = "dtype=bfloat16,attn_implementation=sdpa"
ONE_AT_A_TIME = "no: batch_size 1 only (the backend refuses more)"

FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("llava_1_5", "LLaVA-1.5", ("llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf"),
           "llava_hf", LLAVA_HF_ARGS, ONE_AT_A_TIME, "llava_1_5:build"),
    Family("llava_next_mistral", "LLaVA-NeXT (Mistral)", ("llava-hf/llava-v1.6-mistral-7b-hf",),
           "llava_hf", LLAVA_HF_ARGS, ONE_AT_A_TIME, "llava_next:build_mistral"),
    Family("llava_next_vicuna", "LLaVA-NeXT (Vicuna)", ("llava-hf/llava-v1.6-vicuna-7b-hf",),
           "llava_hf", LLAVA_HF_ARGS, ONE_AT_A_TIME, "llava_next:build_vicuna"),
    Family("llava_onevision", "LLaVA-OneVision",
           ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf",
            "llava-hf/llava-onevision-qwen2-72b-ov-hf"),
           "llava_hf", LLAVA_HF_ARGS, ONE_AT_A_TIME, "llava_onevision:build"),
    Family("smolvlm2", "SmolVLM2", ("HuggingFaceTB/SmolVLM2-2.2B-Instruct",),
           "huggingface", "attn_implementation=sdpa",
           "yes with --batch_size N (padded batches; use 1 for parity)", "idefics3:build_smolvlm2"),
    Family("idefics3", "Idefics3", ("HuggingFaceM4/Idefics3-8B-Llama3",),
           "huggingface", "attn_implementation=sdpa",
           "yes with --batch_size N (padded batches; use 1 for parity)", "idefics3:build_idefics3"),
    Family("instructblip", "InstructBLIP", ("Salesforce/instructblip-vicuna-7b",),
           "instructblip", "", ONE_AT_A_TIME, "instructblip:build", gpu_placement="device=cuda",
           cpu_placement="device=cpu",
           deviation=("the backend takes no dtype, attention or device_map argument (a dtype it accepts is ignored): "
                      "it loads the checkpoint as stored (float32 for the released one), not in bfloat16 as the "
                      "reference loop, so greedy answers can differ from the reference's")),
    Family("qwen2_5_vl", "Qwen2.5-VL",
           ("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-32B-Instruct",
            "Qwen/Qwen2.5-VL-72B-Instruct"),
           "qwen2_5_vl", "attn_implementation=sdpa,min_pixels=3136,max_pixels=12845056",
           "yes with --batch_size N (left-padded; use 1 for parity)", "qwen2_5_vl:build"),
    Family("internvl3", "InternVL3",
           tuple(f"OpenGVLab/InternVL3-{size}-hf" for size in ("1B", "2B", "8B", "9B", "14B", "38B", "78B")),
           "internvl_hf", "attn_implementation=sdpa,min_patches=1,max_patches=12", ONE_AT_A_TIME, "internvl3:build"),
    Family("api", "API models (o4-mini, GPT-4.1, GPT-5.2)", ("o4-mini", "gpt-4.1", "gpt-5.2"),
           "openai", "", "requests overlap: num_concurrent=N (each request is one episode's turn)", None),
)}

# Families of Table 1 that no lmms-eval 0.7.3 backend plays on the pinned versions, with the reason
# and the working alternative (docs/models.md lists them; the family test asserts they are documented).
NOT_PLAYED_HERE: dict[str, str] = {
    "phi4_multimodal": (
        "Phi-4-Multimodal: lmms-eval's phi4_multimodal backend imports librosa at module top (an audio stack with "
        "numba and llvmlite that the install leaves out) and loads microsoft/Phi-4-multimodal-instruct with "
        "trust_remote_code, i.e. the checkpoint's own modeling code (written for transformers 4.48, with peft, "
        "soundfile and backoff), which only the model hub provides: neither can be built or checked offline here, "
        "and transformers 5's native Phi4Multimodal classes are not what that backend calls. Alternative: serve the "
        "checkpoint with vLLM (`vllm serve microsoft/Phi-4-multimodal-instruct --trust-remote-code`) and play it "
        "through lmms-eval's `openai` backend (the API row's command with base_url=http://HOST:8000/v1)."),
}
