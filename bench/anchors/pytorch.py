"""The PyTorch anchor of flaxen's benchmark: the same models, timed the same way.

Usage: python3 bench/anchors/pytorch.py [threads]   (prints one JSON line; bench/anchors/run.ts
runs it, with Debian's OpenBLAS through LD_LIBRARY_PATH when that library is found).

Models, as in bench/flaxen-worker.ts: an MLP 784-256-10 (relu) trained with Adam (lr 1e-3) on
softmax cross-entropy, at batch 64 and 256; LeNet-5 (conv 6 5x5 SAME, relu, max-pool 2, conv 16
5x5 VALID, relu, max-pool 2, dense 120, 84, 10, NHWC data as NCHW) trained alike at batch 64;
and the MLP's forward pass at batch 256 without gradients. Each figure is the median over rounds
of a round's mean step time in ms, wall clock and the process's CPU time, after warm-up steps.
"""
import json
import os
import statistics
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as e:  # the anchor is optional
    print(json.dumps({"skipped": f"PyTorch is not installed ({e})"}))
    sys.exit(0)

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)
ROUNDS = 15


def timed(step, steps):
    """Medians of a step's wall ms and CPU ms (the process's, all threads), as timing.ts."""
    for _ in range(3):
        step()
    wall, cpu = [], []
    for _ in range(ROUNDS):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall.append((time.perf_counter() - t) * 1000 / steps)
        cpu.append((time.process_time() - c) * 1000 / steps)
    return statistics.median(wall), statistics.median(cpu)


def record(key, timing):
    out[key], out[key + "Cpu"] = timing


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def train_step(model, x, y):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def blas():
    """Which BLAS this process loaded (OpenBLAS when run.ts found it, else Debian's reference BLAS)."""
    with open("/proc/self/maps") as maps:
        text = maps.read()
    return "OpenBLAS" if "libopenblas" in text else "reference BLAS"


def malloc_kept():
    """Whether run.ts told glibc malloc to keep freed memory (else each step page-faults anew)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_") is not None


out = {"engine": f"PyTorch {torch.__version__}", "threads": torch.get_num_threads()}
for batch in (64, 256):
    record(f"mlpStep{batch}", timed(train_step(mlp(), torch.randn(batch, 784), torch.randint(0, 10, (batch,))), 12 if batch == 64 else 6))
record("lenetStep64", timed(train_step(lenet(), torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))), 5))
model = mlp()
x = torch.randn(256, 784)


def infer():
    with torch.no_grad():
        model(x)


record("mlpInfer256", timed(infer, 10))
out["engine"] += f" + {blas()}" + ("" if malloc_kept() else ", glibc malloc defaults")
print(json.dumps(out))
