"""Provenance: data source kinds, the content fingerprint, and the pure parts of the results patch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from proactivebench_ext.data import provenance
from proactivebench_ext.data.hub import MARKER_NAME
from proactivebench_ext.data.layout import embedded_data_dir, jsonl_path
from proactivebench_ext.lmms.runtime import provenance as patch


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A released-layout folder: a copy of the embedded set without its synthetic marker."""
    target = tmp_path / "data"
    shutil.copytree(embedded_data_dir(), target, ignore=shutil.ignore_patterns(provenance.SYNTH_MARKER))
    return target


def _rewrite_first_test_row(path: Path, change) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    entry = json.loads(lines[0])
    change(entry)
    lines[0] = json.dumps(entry, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), "utf-8")


def test_source_kinds(folder: Path, tmp_path: Path):
    assert provenance.data_source(embedded_data_dir()).kind == provenance.EMBEDDED
    assert provenance.data_source(folder) == provenance.DataSource(provenance.FOLDER, str(folder.resolve()))
    assert not provenance.data_source(folder).synthetic
    (folder / provenance.SYNTH_MARKER).write_text(json.dumps(provenance.synth_marker(4, 0, "test")))
    assert provenance.data_source(folder).kind == provenance.SYNTHETIC and provenance.data_source(folder).synthetic
    hub = tmp_path / "hub" / "0123abcd" / "test"
    hub.mkdir(parents=True)
    (hub / MARKER_NAME.format(dataset="QuickDraw")).write_text("{}")
    source = provenance.data_source(hub)
    assert (source.kind, source.repo, source.revision) == (provenance.HUB, "tdemin16/ProactiveBench", "0123abcd")


def test_synth_writes_its_marker(tmp_path: Path):
    from proactivebench_ext.data.synth import generate, owned_paths

    generate(tmp_path / "s", per_scenario=1, seed=3, scenarios=["ROD"])
    marker = json.loads((tmp_path / "s" / provenance.SYNTH_MARKER).read_text())
    assert marker["synthetic"] is True and (marker["per_scenario"], marker["seed"]) == (1, 3)
    assert provenance.data_source(tmp_path / "s").kind == provenance.SYNTHETIC
    assert tmp_path / "s" / provenance.SYNTH_MARKER in owned_paths(tmp_path / "s")  # --force replaces it


def test_fingerprint_is_stable_and_follows_the_rows_used(folder: Path, tmp_path: Path):
    first = provenance.fingerprint("ROD", folder)
    assert first == provenance.fingerprint("ROD", folder)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert provenance.fingerprint("ROD", copy) == first  # content, not location
    assert first.rows == 4 and first.images > 0 and len(first.short) == provenance.SHORT
    _rewrite_first_test_row(jsonl_path("ROD", copy), lambda entry: entry.update(answer="elsewhere"))
    changed = provenance.fingerprint("ROD", copy)
    assert changed.rows_sha256 != first.rows_sha256 and changed.images_sha256 == first.images_sha256
    assert changed.short != first.short
    assert provenance.fingerprint("VSOD", copy) == provenance.fingerprint("VSOD", folder)  # per scenario


def test_fingerprint_ignores_rows_outside_the_test_set(folder: Path):
    first = provenance.fingerprint("ROD", folder)
    path = jsonl_path("ROD", folder)
    with path.open("a", encoding="utf-8") as handle:  # an id the filter never keeps
        handle.write(json.dumps({"id": 10**9, "answer": "x"}) + "\n")
    assert provenance.fingerprint("ROD", folder) == first


def test_fingerprint_lists_image_names_and_sizes_not_bytes(folder: Path):
    first = provenance.fingerprint("QD", folder)
    image = next(p for p in sorted((folder / "QuickDraw").rglob("*")) if p.is_file())
    data = bytearray(image.read_bytes())
    data[-1] ^= 0xFF  # same name and size: the listing, and so the fingerprint, are unchanged (fast on 7,557 samples)
    image.write_bytes(bytes(data))
    assert provenance.fingerprint("QD", folder) == first
    image.write_bytes(bytes(data) + b"\0")
    assert provenance.fingerprint("QD", folder).images_sha256 != first.images_sha256
    os.rename(image, image.with_name("renamed" + image.suffix))
    assert provenance.fingerprint("QD", folder).images_sha256 != first.images_sha256


def test_missing_jsonl_still_has_a_fingerprint(tmp_path: Path):
    found = provenance.fingerprint("ROD", tmp_path)
    assert found.rows == 0 and found.short != provenance.fingerprint("VSOD", tmp_path).short


def test_describe_names_the_filter_and_versions():
    described = provenance.describe("COCO", embedded_data_dir())
    assert described["synthetic"] and described["source"]["kind"] == provenance.EMBEDDED
    assert described["test_filter"]["name"] == "filter_ids"
    assert described["test_filter"]["benchmark_ids"] == 7557 and described["test_filter"]["scenario_ids"] == 1240
    from proactivebench_ext import __version__

    assert provenance.engine_version().startswith(f"{__version__}+")


# -- the results patch, pure parts ----------------------------------------------------------------------
def test_task_counts_come_from_the_gathered_results():
    counts = patch.task_counts({"acc,none": 50.0, "errors,none": 2.0}, {"original": 10, "effective": 6}, 10, 1)
    assert counts == {"loaded": 10, "unplayable_rows": 1, "evaluated": 6, "played": 4, "errored": 2, "subset": True}
    assert not patch.task_counts({}, {"original": 4, "effective": 4}, 4, 0)["subset"]


def test_group_coverage_counts_scored_scenarios():
    results = {f"proactive_{s}": {"acc,none": 1.0} for s in ("rod", "vsod", "mvpn", "inc", "cit", "coco")}
    results["proactive_qd"] = {"errors,none": 4.0}
    coverage = patch.group_coverage("proactivebench", sorted(results), results, 7, "acc")
    assert coverage["coverage"] == "6/7" and not coverage["complete"] and coverage["unscored"] == ["proactive_qd"]
    assert patch.group_coverage("g", ["a"], {"a": {"acc,none": 0.0}}, None, "acc")["coverage"] == "1/1"


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"temperature": 0, "do_sample": False, "num_beams": 1}, True),
    ({"temperature": 0.0, "do_sample": True}, True),  # temperature 0 is greedy
    ({"temperature": 0.7, "do_sample": True}, False),
    ({"num_beams": 4}, False),
    ({}, True),
])
def test_greedy(kwargs, expected):
    assert patch.greedy(kwargs) is expected


def test_parity_names_every_difference():
    greedy = {"proactive_rod": {"temperature": 0, "do_sample": False}}
    assert patch.parity("bfloat16", 1, greedy) == {"paper_parity": True, "differences": []}
    found = patch.parity("float32", 8, {"proactive_rod": {"temperature": 1.0, "do_sample": True}})
    assert not found["paper_parity"] and len(found["differences"]) == 3
    assert "float32" in found["differences"][0] and "proactive_rod" in found["differences"][2]
    assert not patch.parity(None, 1, greedy)["paper_parity"]


def test_observed_dtype_prefers_the_weights():
    class Weights:
        dtype = "torch.bfloat16"

    class Backend:
        model = Weights()

    assert patch.observed_dtype(Backend(), "dtype=float16") == "bfloat16"
    assert patch.observed_dtype(object(), "pretrained=x,torch_dtype=torch.float16") == "float16"
    assert patch.observed_dtype(object(), {"dtype": "bfloat16"}) == "bfloat16"
    assert patch.observed_dtype(object(), "") is None


def test_annotate_adds_the_block_and_marks_the_aliases(tmp_path: Path):
    """The results patch on a rank-0 results dict, with stand-ins for lmms-eval's task outputs."""
    from types import SimpleNamespace

    data = str(embedded_data_dir())
    slugs = {"ROD": "rod", "VSOD": "vsod", "MVP-N": "mvpn", "IN-C": "inc", "QD": "qd", "CIT": "cit", "COCO": "coco"}
    outputs, results = [], {"results": {}, "n-samples": {}, "group_subtasks": {}}
    for acronym, slug in slugs.items():
        task = f"proactive_{slug}"
        docs = [{"scenario": acronym, "data_dir": data, "fault": ""} for _ in range(4)]
        config = SimpleNamespace(generation_kwargs={"temperature": 0, "do_sample": False, "max_agentic_steps": 1000})
        outputs.append(SimpleNamespace(task_name=task, task=SimpleNamespace(eval_docs=docs, config=config)))
        errored = acronym == "QD"
        results["results"][task] = {"alias": f" - {acronym}", "errors,none": 4.0 if errored else 0.0,
                                    **({} if errored else {"acc,none": 100.0, "psr,none": 1.0})}
        results["n-samples"][task] = {"original": 4, "effective": 4}
    results["results"]["proactivebench"] = {"alias": "proactivebench", "acc,none": 100.0}
    results["group_subtasks"]["proactivebench"] = [f"proactive_{s}" for s in slugs.values()]
    backend = SimpleNamespace(batch_size=1, model=SimpleNamespace(dtype="torch.bfloat16"))
    patch.annotate(results, outputs, backend, SimpleNamespace(model="llava_hf", model_args="pretrained=x", batch_size="1"))
    block = results[patch.BLOCK]
    rod = block["tasks"]["proactive_rod"]
    assert rod["source"]["kind"] == provenance.EMBEDDED and rod["fingerprint"] == provenance.fingerprint("ROD", data).to_json()
    assert rod["episodes"] == {"loaded": 4, "unplayable_rows": 0, "evaluated": 4, "played": 4, "errored": 0,
                               "subset": False}
    assert block["tasks"]["proactive_qd"]["episodes"]["played"] == 0
    assert block["groups"]["proactivebench"]["coverage"] == "6/7"
    assert results["results"]["proactivebench"]["alias"] == "proactivebench [6/7 scenarios] [synthetic]"
    assert results["results"]["proactive_rod"]["alias"] == " - ROD [synthetic]"
    assert block["settings"]["dtype"] == "bfloat16" and block["settings"]["paper_parity"] is True
