"""In-memory loader vs torch DataLoader on Fashion-MNIST (issue: foundation data layer).

    python benchmarks/bench_loader.py [--epochs 3] [--batch-size 128] [--device cpu]

Both produce shuffled float batches in [-1, 1], (B, 1, 28, 28), on the device; the DataLoader is
the usual recipe (a Dataset with per-item scaling, default collate, num_workers 0 and 2).
Reports batches/s of each and the ratio, alternating them so machine load affects both.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader

from gan_utils.data import InMemoryLoader, load_dataset


def one_epoch(it, device):
    n = 0
    t = time.perf_counter()
    for b in it:
        x = b[0] if isinstance(b, (list, tuple)) else b
        x = x.to(device, non_blocking=True)
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    ds = load_dataset("fashion-mnist", train=True)
    mem = InMemoryLoader(ds, args.batch_size, device=device)
    loaders = {"in-memory": lambda: mem.epoch_batches(),
               "DataLoader w0": lambda: DataLoader(ds, args.batch_size, shuffle=True, drop_last=True, num_workers=0),
               "DataLoader w2": lambda: DataLoader(ds, args.batch_size, shuffle=True, drop_last=True, num_workers=2)}
    rates = {k: [] for k in loaders}
    for _ in range(args.epochs):
        for k, make in loaders.items():
            rates[k].append(one_epoch(make(), device))
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print(f"{k:>14}: {v:8.1f} batches/s  ({v * args.batch_size:,.0f} images/s)  ratio in-memory/this = {med['in-memory'] / v:.1f}x")


if __name__ == "__main__":
    main()
