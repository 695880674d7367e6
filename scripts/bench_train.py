"""Training benchmarks for scripts/bench.py: matrix-multiply rate, FLOPs, compute-only and end-to-end throughput."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Reed et al.'s widths and batch, as in configs/cub.yaml and configs/oxford102.yaml.
REED = {"image_size": 64, "ngf": 128, "ndf": 64, "batch_size": 64}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def matmul_gflops(size: int = 2048, repeats: int = 10) -> dict:
    """Return the fp32 rate of a large torch.matmul in GFLOP/s (2 n^3 operations per product)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return summary(rates)


def build_players(image_size: int, ngf: int, ndf: int, embedding_dim: int = 384):
    from t2i.models.discriminator import Discriminator
    from t2i.models.generator import Generator

    generator = Generator(embedding_dim, 100, 128, ngf, image_size)
    discriminator = Discriminator(embedding_dim, 128, ndf, image_size)
    return generator, discriminator


class ComputeOnlyStep:
    """One GAN-INT-CLS batch outside Lightning: the same networks, losses and Adam steps as TextToImageGAN."""

    def __init__(
        self, image_size: int, ngf: int, ndf: int, batch_size: int, channels_last: bool = False, device: str = "cpu"
    ):
        from t2i.training.losses import gan_cls_loss, generator_loss, interpolate_embeddings

        self.losses = (gan_cls_loss, generator_loss, interpolate_embeddings)
        self.generator, self.discriminator = build_players(image_size, ngf, ndf)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator.to(device, memory_format=memory_format)
        self.discriminator.to(device, memory_format=memory_format)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(batch_size, 3, image_size, image_size, generator=generator) * 2 - 1
        self.images = self.images.to(device).contiguous(memory_format=memory_format)
        self.embedding = torch.randn(batch_size, 384, generator=generator).to(device)
        self.mismatched = torch.randn(batch_size, 384, generator=generator).to(device)
        self.device = torch.device(device)

    def __call__(self) -> None:
        gan_cls_loss, generator_loss, interpolate_embeddings = self.losses
        generator, discriminator = self.generator, self.discriminator
        z = torch.randn(len(self.images), 100, device=self.device)
        fake = generator(z, self.embedding)
        generator.requires_grad_(False)
        d_loss, _ = gan_cls_loss(
            discriminator(self.images, self.embedding), discriminator(self.images, self.mismatched),
            discriminator(fake.detach(), self.embedding),
        )
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        generator.requires_grad_(True)
        discriminator.requires_grad_(False)
        interpolated = interpolate_embeddings(self.embedding, 0.5)
        interpolated_logits = discriminator(generator(torch.randn_like(z), interpolated), interpolated)
        g_loss, _ = generator_loss(discriminator(fake, self.embedding), interpolated_logits, 1.0)
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        discriminator.requires_grad_(True)


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def flops_per_image(step: ComputeOnlyStep) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / len(step.images)


def compute_only(
    image_size: int, ngf: int, ndf: int, batch_size: int, batches: int, channels_last: bool = False, device: str = "cpu"
) -> dict:
    """Return images per second of ComputeOnlyStep, one figure per batch after two warm-up batches."""
    step = ComputeOnlyStep(image_size, ngf, ndf, batch_size, channels_last, device)
    for _ in range(2):
        step()
    rates = []
    for _ in range(batches):
        _synchronize(device)
        start = time.perf_counter()
        step()
        _synchronize(device)
        rates.append(batch_size / (time.perf_counter() - start))
    return {"images_per_second": summary(rates), "flops_per_image": flops_per_image(step)}


def run_fit(args: list[str], run_dir: Path) -> tuple[float, int]:
    """Run `t2i fit` in a new process; return its wall time and peak resident memory in bytes."""
    env = dict(os.environ, WANDB_MODE="offline", HF_HUB_OFFLINE="1", WANDB_SILENT="true")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("t2i")), "fit", *args], cwd=run_dir, env=env, check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far, in KiB on Linux.
    return seconds, max(peak, before) * 1024


def end_to_end(cache_dir: Path, short: int, long: int, repeats: int, device: str = "cpu") -> dict:
    """Return images per second of `t2i fit` at Reed et al.'s size, from the time difference of two run lengths.

    The run has the real DataModule (toy flowers at 64 pixels, cached), LightningModule, progress bar, W&B
    logger (offline), checkpoint and sample-grid callbacks. Subtracting a short run removes start-up time.
    """
    args = [
        "--config", str(PROJECT_ROOT / "configs" / "toy-flowers.yaml"), "--data.image_size", "64",
        "--data.load_size", "76", "--model.ngf", str(REED["ngf"]), "--model.ndf", str(REED["ndf"]),
        "--data.batch_size", str(REED["batch_size"]), "--data.captions_per_embedding", "4",
        "--data.cache_dir", str(cache_dir), "--trainer.max_time", "null",
        "--trainer.accelerator", "gpu" if torch.device(device).type == "cuda" else "cpu",
    ]
    if torch.device(device).type == "cuda":
        # The uint8 cache sits on the GPU, so that batches are gathered, cropped and flipped there.
        args += ["--data.images_on_device", "true"]
    rates, peaks = [], []
    with tempfile.TemporaryDirectory() as run_dir:
        # The first run prepares the cache, so that the timed runs only load it.
        run_fit([*args, "--trainer.max_steps", "2"], Path(run_dir))
        for _ in range(repeats):
            short_time, _ = run_fit([*args, "--trainer.max_steps", str(2 * short)], Path(run_dir))
            long_time, peak = run_fit([*args, "--trainer.max_steps", str(2 * long)], Path(run_dir))
            rates.append((long - short) * REED["batch_size"] / (long_time - short_time))
            peaks.append(peak)
    return {"images_per_second": summary(rates), "peak_rss_bytes": max(peaks), "batches": [short, long]}
