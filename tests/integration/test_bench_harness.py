"""The benchmark harness in a tiny configuration, so CI keeps it working: `python -m benchmarks
run` end to end (catalog, `qserv partition`, `qserv ingest` into a 1-worker cluster, baseline,
every section, report and plots) on a few hundred rows. No timing is asserted: only that
every section ran, that every answer equals the baseline's, and that the outputs exist."""

from __future__ import annotations

import json
import os

import yaml

from benchmarks.__main__ import main
from benchmarks.workload import WORKLOAD, load

BASE_PORT = int(os.environ.get("QSERV_TEST_BASE_PORT", "23306"))
HARNESS_BASE = BASE_PORT + 1800   # uses 1794, 1800-1801, 1901, 2100, 2108


def test_workload_file_parses_and_draws():
    import numpy as np

    from benchmarks.workload import draw
    classes, mixed = load()
    assert {f"LV{i}" for i in range(1, 5)} | {f"HV{i}" for i in range(1, 8)} <= set(classes)
    rng = np.random.default_rng(1)
    for cls in classes.values():
        q = draw(cls, rng, 1000)
        assert "{" not in q.sql and "{" not in q.baseline, cls.name
    assert set(mixed["clients"]) <= set(classes)


def test_tiny_run(tmp_path):
    raw = yaml.safe_load(WORKLOAD.read_text())
    raw["mixed"]["clients"] = {"LV1": 2, "LV3": 1, "HV2": 1}
    wl = tmp_path / "workload.yaml"
    wl.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    code = main(["run", "--workers", "1", "--small", "0", "--large", "400", "--chunk-order", "3",
                 "--repeat", "1", "--scaling", "1", "--mixed-seconds", "1", "--mixed-scales", "1",
                 "--shared-k", "1,2", "--classes", "LV1,LV2,LV3,HV1,HV2,HV3,HV6",
                 "--workload", str(wl), "--out", str(out), "--work", str(tmp_path / "work"),
                 "--base-port", str(HARNESS_BASE)])
    r = json.loads((out / "results.json").read_text())
    assert r["section_errors"] == {} and code == 0
    alone = r["alone"]["dp0l"]
    assert set(alone) == {"LV1", "LV2", "LV3", "HV1", "HV2", "HV3", "HV6"}
    assert all(v["answers"] == 1 and v["wrong"] == 0 for v in alone.values()), alone
    for key in ("mixed", "shared", "fixed", "gantt", "scaling"):
        assert r.get(key), key
    assert r["gantt"]["jobs"], "the czar's job timing lines were not found"
    for key in ("seed", "git_commit", "cpu_count", "memory_gb", "versions"):
        assert key in r["meta"]
    assert (out / "report.md").read_text().startswith("# Benchmark harness")
    for png in ("latency_per_class.png", "hv1_vs_chunks.png", "gantt_hv2.png", "scaling.png"):
        assert (out / png).stat().st_size > 0, png
