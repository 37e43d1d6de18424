"""Measure the throughput table `noisebench study list` and `study NAME --dry-run` project times from.

    python bench/throughput_table.py                       # this machine's CPU, every (model, shape) of the presets
    python bench/throughput_table.py --device cuda         # one GPU
    python bench/throughput_table.py --out bench/table.json   # somewhere else (default: the shipped table)

For each (model, input shape) of the shipped presets: its training FLOPs per sample (3 x the forward pass
of one sample, counted by torch.utils.flop_counter; machine-independent), and, for the models up to
--max-gflops forward (all with --all), the measured time: Adam steps with ReLU on random data of that shape,
batch 16 for images and 64 for synth, two warm-up steps, then steps timed for at least --seconds (and at
least two); seconds per training sample, no cache. Projections use the measured time where there is one,
else the FLOPs at the median seconds per FLOP of the measured image models. The device's section of the
JSON file (--out, default harness/studies/throughput.json, shipped in the package) is replaced and names
the machine, the date, the torch version and the thread count; other devices' sections are kept.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import machine_line  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "harness" / "studies" / "throughput.json"


def preset_work() -> list[tuple[str, tuple, str]]:
    """Every (model, input shape, task) the shipped presets train, smallest first."""
    import tempfile

    from noisebench.harness.studies.cost import _work
    from noisebench.harness.studies.preset import load_preset, preset_names
    from noisebench.harness.studies.sketch import sketch

    keys: set = set()
    with tempfile.TemporaryDirectory() as empty:  # plan from the predicted files, whatever is built here
        for name in preset_names():
            keys |= set(_work(sketch(load_preset(name), Path(empty)), Path(empty)))
    return sorted(keys, key=lambda k: (len(k[1]), k[0]))


def train_flops(model: str, shape: tuple, task: str) -> float:
    """3 x the forward FLOPs of one sample (forward + backward ~ 3 forward passes)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from noisebench.harness.models import build_model

    net = build_model(model, "relu", tuple(shape), 1 if task == "regression" else 10).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.randn((1,) + tuple(shape)))
    return 3.0 * fc.get_total_flops()


def _name(machine: str, dev: str) -> str:
    """'CPU <model>, N CPUs' (and the GPU) from bench/_bench_data.machine_line, without date and load."""
    parts = machine.split("; ")
    name = parts[1].split(" (load")[0] if len(parts) > 1 else machine
    return name + (f", {parts[-1].removeprefix('device ')}" if dev == "cuda" else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per model (after the warm-up)")
    ap.add_argument("--max-gflops", type=float, default=0.5,
                    help="time only the models up to this many forward GFLOPs per sample (default 0.5)")
    ap.add_argument("--all", action="store_true", help="time every model (slow on a CPU: minutes per large model)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON file to update (default {DEFAULT_OUT})")
    args = ap.parse_args()
    import torch

    from noisebench.harness.studies.cost import probe_seconds_per_sample, table_key

    dev = "cuda" if args.device.startswith("cuda") else "cpu"
    machine = machine_line(torch.device(args.device))
    print(machine)
    rates, flops = {}, {}
    for model, shape, task in preset_work():
        key = table_key(model, shape)
        flops[key] = train_flops(model, shape, task)
        line = f"{key:<28} {flops[key] / 1e9:9.3f} GFLOPs per training sample"
        if args.all or flops[key] / 3 <= args.max_gflops * 1e9:
            spp = probe_seconds_per_sample(model, shape, task, args.device, seconds=args.seconds, use_cache=False)
            rates[key] = spp
            line += f"  {1 / spp:10.1f} samples/s  ({spp * 1e3:.3f} ms per sample)"
        print(line, flush=True)
    doc = {"devices": {}}
    if args.out.is_file():
        doc = json.loads(args.out.read_text())
    doc.setdefault("devices", {})[dev] = {
        "machine": _name(machine, dev),
        "measured": machine, "date": datetime.date.today().isoformat(), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "seconds_per_sample": "Adam + ReLU, random data; see bench/throughput_table.py",
        "rates": rates, "flops": flops,
    }
    tmp = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({dev}: {len(rates)} timed, {len(flops)} FLOP counts)")


if __name__ == "__main__":
    main()
