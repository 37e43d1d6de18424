"""Benchmark: one epoch of CIFAR-10-sized batches, dataset resident on the device vs streamed from HDF5.

    python bench/data_loading.py                         # CPU-sized: 4,096 images, pure data path
    python bench/data_loading.py --model resnet18 --images 512   # plus fwd/bwd/Adam of a small model
    python bench/data_loading.py --device cuda --full    # 50,000 images, on the GPU
    python bench/data_loading.py --device cuda --full --model resnet18

ours (resident)   load_split once (HDF5 -> uint8 NHWC tensor on the device; timed separately), then
                  per epoch: randperm, one gather, contiguous batch slices, crop+flip on the device and
                  float/normalize (harness.train_loop.crop_flip / to_input: exactly the engine's path).
streamed          DataLoader(H5SplitDataset(file), batch, shuffle=True, num_workers 0/2/4, pin_memory
                  on CUDA), torchvision RandomCrop(32, pad 4)+HorizontalFlip+Normalize per sample in the
                  workers, each batch moved to the device (non_blocking): the usual PyTorch input pipeline.
Also two diagnostic rows: streamed with 0 workers and no shuffling (sequential reads), and streamed with
no transform (pure HDF5 read + float), to separate the cost of random access and of the per-sample
transform. Same batch size and same images everywhere; epoch time is the best of --epochs epochs
(workers are started per epoch, as a plain DataLoader does, so their start-up is included).
With --model M every batch also goes through M's forward, backward and an Adam step (fp32, NCHW on
both sides), so the data path's cost is seen next to a model's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import bench_files, machine_line, sync  # noqa: E402


def _step_fn(model_name: str | None, device, in_shape):
    """A function consuming one (x float NCHW, y) batch: nothing, or fwd+bwd+Adam of a model."""
    import torch
    import torch.nn.functional as F

    if not model_name:
        def consume(x, y):
            return x.sum()  # touch the batch so lazy work cannot be skipped
        return consume
    from noisebench.harness.models import build_model

    torch.manual_seed(0)
    model = build_model(model_name, "relu", in_shape, 10).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def consume(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()
    return consume


def resident_epochs(path, args, device, consume):
    import torch

    from noisebench.data.loaders import load_split
    from noisebench.harness.run.loop import SplitTensors, TrainData, crop_flip, image_stats, to_input

    sync(device)
    t0 = time.perf_counter()
    x, y = load_split(path, "train", device=device)
    sync(device)
    t_load = time.perf_counter() - t0
    mean, std = image_stats(x)
    data = TrainData(train=SplitTensors(x, y), val=SplitTensors(x[:1], y[:1]), test=None, task="classification",
                     num_classes=10, images=True, augment="crop_flip", mean=mean, std=std)
    gen = torch.Generator(device=device).manual_seed(1)
    order = torch.Generator().manual_seed(0)
    n, bs = x.shape[0], args.batch_size
    times = []
    for _ in range(args.epochs):
        sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=order).to(device)
        xs, ys = x[perm], y[perm]
        acc = torch.zeros((), device=device)
        for i in range(0, n, bs):
            xb = to_input(data, crop_flip(xs[i : i + bs], gen), channels_last=False)
            acc += consume(xb, ys[i : i + bs])
        sync(device)
        times.append(time.perf_counter() - t0)
    return t_load, times


def streamed_epochs(path, args, device, consume, workers: int, shuffle: bool = True, transform: bool = True):
    import torch
    from torch.utils.data import DataLoader

    from noisebench.data.loaders import H5SplitDataset, load_split
    from noisebench.harness.run.loop import image_stats

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_throughput import _Prep

    x, _ = load_split(path, "train")
    mean, std = (t.tolist() for t in image_stats(x))
    del x
    ds = H5SplitDataset(path, "train", transform=_Prep(mean, std, True, False) if transform else None)
    dl = DataLoader(ds, batch_size=args.batch_size, shuffle=shuffle, num_workers=workers,
                    pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(args.epochs):
        sync(device)
        t0 = time.perf_counter()
        acc = torch.zeros((), device=device)
        for xb, yb in dl:
            acc += consume(xb.to(device, non_blocking=True), yb.to(device, non_blocking=True))
        sync(device)
        times.append(time.perf_counter() - t0)
    ds.close()
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="50,000 training images instead of 4,096")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=2, help="epochs per variant; the best is reported")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", default="0,2,4", help="DataLoader worker counts of the streamed rows")
    ap.add_argument("--model", default=None, help="also train this model on every batch (e.g. resnet18)")
    ap.add_argument("--no-diagnostics", action="store_true", help="skip the sequential / no-transform rows")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cifar", help="a real cifar10 noisebench file instead of synthetic data")
    ap.add_argument("--data-dir", help="keep/reuse the synthetic file here instead of a temp folder")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (main process)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from noisebench.harness.run.checks import resolve_device

    device = resolve_device(args.device)
    n = args.images or (50_000 if args.full else 4_096)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    print(f"data loading: {n} CIFAR-10-sized images, batch {args.batch_size}, best of {args.epochs} epoch(s), "
          f"model={args.model or 'none (pure data path)'}")
    print(f"machine: {machine_line(device)}")
    rows = []
    with bench_files(["cifar10"], n, 256, args.data_dir, {"cifar10": args.cifar} if args.cifar else None) as files:
        path = files["cifar10"]
        consume = _step_fn(args.model, device, (3, 32, 32))
        consume(torch.zeros(2, 3, 32, 32, device=device), torch.zeros(2, dtype=torch.long, device=device))  # warm-up
        t_load, times = resident_epochs(path, args, device, consume)
        rows.append(("ours: resident on device (load_split once, index on device)", min(times), times))
        print(f"  resident: load_split {t_load:.2f} s once; epochs {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
        for w in workers:
            times = streamed_epochs(path, args, device, consume, w)
            rows.append((f"streamed: DataLoader(H5SplitDataset), {w} workers", min(times), times))
            print(f"  streamed {w} workers: epochs {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
        if not args.no_diagnostics:
            times = streamed_epochs(path, args, device, consume, 0, shuffle=False)
            rows.append(("diag: streamed, 0 workers, shuffle=False (sequential reads)", min(times), times))
            times = streamed_epochs(path, args, device, consume, 0, transform=False)
            rows.append(("diag: streamed, 0 workers, no transform (read + float only)", min(times), times))
    ref = rows[0][1]
    print()
    print("| data path | epoch s | images/s | x resident time |")
    print("|---|---:|---:|---:|")
    for name, best, _ in rows:
        print(f"| {name} | {best:.3f} | {n / best:,.0f} | {best / ref:.1f}x |")
    print(f"\none-time load_split of the resident path: {t_load:.2f} s ({n / t_load:,.0f} images/s); "
          f"resident epoch + load = {ref + t_load:.2f} s for the first epoch")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine_line(device), "args": vars(args), "n": n,
                                               "load_s": t_load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
