"""Benchmark: `noisebench evaluate`'s engine vs a plain DataLoader loop, on the same model and test sets.

    python bench/evaluate.py                              # CPU-sized: 2,000 images × (clean + 2 corruptions × 5)
    python bench/evaluate.py --model resnet18 --images 10000 --corruptions benchmark --device cuda   # the suite

ours        nb.evaluate (harness/testtime/evaluate.py): each set read once from HDF5 into a uint8 tensor on
            the device, batches sliced from it, float + normalise on the device, bf16 autocast and
            channels_last on CUDA (fp32 on CPU); files verified against their checksums (cached after the
            first pass: both passes are printed).
plain loop  the usual PyTorch evaluation: the same arrays (read from the same files) in a Dataset with
            torchvision ToTensor + Normalize per image, DataLoader(batch, num_workers in --workers,
            pin_memory on CUDA), each batch moved to the device, fp32, model(x).argmax(1) == y.
Same model, weights, batch size and images; the accuracies of both are checked equal (fp32) or printed.
Synthetic CIFAR-sized images (bench/_bench_data.py) and their corrupted test sets (`make cifar10-c`'s code).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import machine_line, sync, write_synthetic  # noqa: E402

SMALL = "small"  # a 3-conv CNN (~0.01 GFLOP/image): the loop's overhead is visible next to it on CPU


def small_cnn():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


def plain_loop(model, sets, prep, device, batch, workers) -> tuple[float, list]:
    import torch
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from noisebench.harness.testtime.sets import load_set

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(prep["mean"], prep["std"])])

    class Arrays(Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return tf(self.x[i]), int(self.y[i])

    accs = []
    model = model.to(device).eval()
    sync(device)
    t0 = time.perf_counter()
    for s in sets:
        x, y = load_set(s)
        dl = DataLoader(Arrays(x, y), batch_size=batch, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
        correct = 0
        with torch.no_grad():
            for xb, yb in dl:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                correct += int((model(xb).argmax(1) == yb).sum())
        accs.append(correct / len(y))
    sync(device)
    return time.perf_counter() - t0, accs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=SMALL, help=f"{SMALL} (default) or a registered model, e.g. resnet18")
    ap.add_argument("--images", type=int, default=2000, help="test images per set (default 2000; the suite: 10000)")
    ap.add_argument("--corruptions", default="gaussian_noise,contrast", help="benchmark, all or a comma list")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--workers", default="0,2", help="DataLoader workers of the plain loop (comma list: one row each)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="ours: auto (bf16 on CUDA), bf16 or fp32")
    ap.add_argument("--data-dir", default=None, help="keep the synthetic files here (reused)")
    a = ap.parse_args()

    import torch

    import noisebench as nb
    from noisebench.harness.models import build_model
    from noisebench.harness.run.checks import resolve_device
    from noisebench.harness.testtime.sets import plan_sets, train_statistics

    device = resolve_device(a.device)
    print(machine_line(device))
    folder = Path(a.data_dir or tempfile.mkdtemp(prefix="nb-bench-eval-"))
    folder.mkdir(parents=True, exist_ok=True)
    clean = folder / f"bench-eval-{a.images}.h5"
    if not clean.exists():
        write_synthetic(clean, "cifar10", n_train=2048, n_test=a.images)
    t = time.perf_counter()
    sets = plan_sets(clean, a.corruptions, [1, 2, 3, 4, 5], note=lambda m: None)
    print(f"{len(sets)} sets × {a.images} images = {len(sets) * a.images} images "
          f"(corrupted sets ready in {time.perf_counter() - t:.1f} s)")
    torch.manual_seed(0)
    model = small_cnn() if a.model == SMALL else build_model(a.model, "relu", (3, 32, 32), 10)
    prep = train_statistics(clean)
    n = len(sets) * a.images
    times = []
    for _ in range(2):  # the first pass hashes the files (verification), the second finds them cached
        sync(device)
        t0 = time.perf_counter()
        res = nb.evaluate(model, data=clean, corruptions=a.corruptions, normalize=(prep["mean"], prep["std"]),
                          device=a.device, precision=a.precision, batch_size=a.batch_size, quiet=True)
        sync(device)
        times.append(time.perf_counter() - t0)
    ours_acc = [r["acc"] for r in res]
    print(f"model {a.model}, batch {a.batch_size}, device {device}, precision {a.precision}")
    print(f"ours (first pass, verifying files): {times[0]:7.2f} s  {n / times[0]:9.0f} img/s")
    print(f"ours (files verified, cached):      {times[1]:7.2f} s  {n / times[1]:9.0f} img/s")
    for w in [int(v) for v in str(a.workers).split(",") if v.strip()]:
        base_s, base_acc = plain_loop(model, sets, prep, device, a.batch_size, w)
        same = max(abs(x - y) for x, y in zip(ours_acc, base_acc))
        print(f"plain DataLoader loop ({w} workers): {base_s:7.2f} s  {n / base_s:9.0f} img/s  ratio plain / ours "
              f"{base_s / times[1]:.2f}x (first pass {base_s / times[0]:.2f}x); largest accuracy difference {same:.2e}")


if __name__ == "__main__":
    main()
