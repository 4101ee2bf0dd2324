"""Three processes install the same datasets at once from the loopback fake hub (as the ranks of a
multi-process run, or two runs started together, do): one download and one extraction per
archive, all three succeed with the same data folder, and no temporary folder is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.data import hub
from proactivebench_ext.data.checkdata import check_data_dir
from proactivebench_ext.data.synth import generate

from ..fake_hub import COMMIT, FakeHub

REPO = Path(__file__).resolve().parents[2]

# Each process waits for the start signal, then installs; install_dataset is wrapped to record
# whether this process extracted (True) or found the dataset installed (False).
CLIENT = """
import json, sys, time
from pathlib import Path
from proactivebench_ext.data import hub

go, scenarios, endpoint, cache_dir, extract_root = sys.argv[1:6]
calls = []
original = hub.install_dataset

def recording(root, files, **kwargs):
    calls.append([files.dataset, original(root, files, **kwargs)])
    return calls[-1][1]

hub.install_dataset = recording
while not Path(go).exists():
    time.sleep(0.005)
data_dir = hub.download_test_data(scenarios.split(","), endpoint=endpoint, cache_dir=cache_dir, extract_root=extract_root)
print(json.dumps({"data_dir": str(data_dir), "calls": calls}))
"""


def test_three_processes_install_once_and_all_succeed(tmp_path):
    released = tmp_path / "released"
    generate(released, per_scenario=3, seed=4, zip_archives=True)
    datasets = ("QuickDraw", "Realistic-Occlusion-Dataset")
    bench = load_benchmark()
    files = {f"test/{bench.jsonl_name.format(dataset=d)}": (released / bench.jsonl_name.format(dataset=d)).read_bytes()
             for d in bench.datasets}
    files.update({f"test/{d}_images_v1.zip": (released / f"{d}.zip").read_bytes() for d in bench.datasets})
    server = FakeHub(files, get_delay=0.5)  # slow downloads: the three processes overlap
    cache_dir, extract_root = tmp_path / "hf" / "hub", tmp_path / "extracted"
    root = extract_root / COMMIT / "test"
    (root / ".partial-QuickDraw-4242" / "QuickDraw").mkdir(parents=True)  # what a killed run left behind
    go = tmp_path / "go"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": server.endpoint}
    env.pop("HF_HUB_OFFLINE", None)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(go), "QD,ROD", server.endpoint, str(cache_dir),
                                   str(extract_root)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        time.sleep(2.0)  # let all three import and reach the start line
        go.touch()
        outputs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        server.close()
    for proc, (_out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    assert {result["data_dir"] for result in results} == {str(root)}
    for dataset in datasets:
        extracted = [done for result in results for name, done in result["calls"] if name == dataset]
        assert sorted(extracted) == [False, False, True], f"{dataset}: one extraction, two processes found it done"
        assert server.gets().count(f"test/{dataset}_images_v1.zip") == 1, f"{dataset}: one download"
    assert not [p for p in root.iterdir() if p.name.startswith(".partial-")], "no temporary folder is left"
    assert all(not report.problems for report in check_data_dir(root, ["QD", "ROD"]))
    assert (extract_root / hub.LOCK_FOLDER / "QuickDraw.lock").exists()
