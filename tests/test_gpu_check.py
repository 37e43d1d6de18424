"""bench/gpu_check.py (the device check) on the CPU: its cheap stage end to end, and the markdown it renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from gpu_results_md import render  # noqa: E402


def _gpu_json(ratio: float, tact_slow: float, hours: float) -> dict:
    return {
        "date": "2026-12-01 12:00 UTC", "device": "cuda:0", "gpu": "NVIDIA H100 80GB HBM3", "quick": False,
        "host": {"cpu": "x86_64", "cpus": 32}, "versions": {"torch": "2.x"}, "errors": {}, "total_s": 400.0,
        "tests": {"ran": True, "summary": "30 passed in 60s"},
        "throughput": {"model": "resnet18", "images": 10240, "epochs": 3, "compile": True,
                       "rows": [{"activation": "relu", "ours_img_s": 3000.0 * ratio, "ref_img_s": 3000.0, "ratio": ratio,
                                 "ours_acc": 0.9, "ref_acc": 0.89}],
                       "ratio_relu": ratio, "met": ratio >= 3, "accuracy_gap": 0.01},
        "activation_overhead": {"compiled": True, "slowdown_vs_relu": {"tact": tact_slow, "mtact": 0.05},
                                "met": tact_slow <= 0.15},
        "study": {"epochs": 2, "call1": {"trained": 2, "s": 30}, "call2": {"trained": 2, "skipped": 2, "s": 30},
                  "resumed": True, "projection": {"runs": 75, "per_run_s": hours * 3600 / 75, "total_h": hours,
                                                  "model": "resnet18_tv", "basis": "b", "goal_h": 1.0}},
    }


def test_render_reports_each_goal():
    good = render(_gpu_json(4.0, 0.10, 0.8))
    assert "4.00x — **met**" in good and "**0.80 device-hours**" in good and "**missed**" not in good
    bad = render(_gpu_json(2.0, 0.30, 1.5))
    assert bad.count("**missed**") == 3
    assert "NVIDIA H100" in bad and "resumed" in bad


@pytest.mark.slow
def test_gpu_check_cpu_psi_stage_end_to_end(tmp_path):
    out = tmp_path / "check.json"
    r = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--device", "cpu", "--quick",
                        "--skip", "tests,throughput,study", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["errors"] == {}
    assert res["psi_build"]["sampler"].startswith("torch.poisson on cpu")
    assert res["psi_build"]["images"] == 2500
    assert "ψ build" in r.stdout
