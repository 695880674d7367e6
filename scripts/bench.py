"""Benchmarks of t2i on the machine it runs on; each prints its medians and writes them as JSON.

Usage:
    python scripts/bench.py prepare [--oxford-root PATH] [--cache-images 10000] [--repeats 5] [--out FILE]

`prepare` measures:
  - prepare throughput: `prepare_images` on real JPEGs (the Oxford-102 images under --oxford-root,
    by default ../shared/data/real/oxford102) resized to 76 pixels, in images per second;
  - the time to load a prepared cache of --cache-images toy flowers at 76 pixels with caption
    embeddings [images, 10, 384] in float16, as `t2i fit` loads it before its first batch.
Each figure is the median of --repeats runs; the page cache is warm after the first load.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_OXFORD = PROJECT_ROOT.parent / "shared" / "data" / "real" / "oxford102"


def machine() -> str:
    """Describe the CPU, the threads torch uses and the torch version, for the benchmark record."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def bench_prepare_throughput(root: Path, repeats: int) -> dict:
    """Prepare the image cache of the dataset at `root` `repeats` times into fresh folders; return images per second."""
    import datasets

    from t2i.data.prepare import DatasetSpec, prepare_images

    rates, count = [], 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            folder = prepare_images(DatasetSpec(name="oxford102", root=str(root), load_size=76), cache)
            seconds = time.perf_counter() - start
            count = len(datasets.load_from_disk(str(folder / "images")))
        rates.append(count / seconds)
    return {"images": count, "images_per_second_median": statistics.median(rates), "runs": rates}


def bench_cache_load(num_images: int, repeats: int) -> dict:
    """Prepare `num_images` toy flowers at 76 pixels with stand-in embeddings; time load_prepared."""
    from t2i.data.prepare import DatasetSpec, prepare_images
    from t2i.data.prepared import load_prepared

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        folder = prepare_images(DatasetSpec(name="toy-flowers", load_size=76, num_images=num_images), cache)
        prepare_seconds = time.perf_counter() - start
        # The load time depends on the tensor's shape, not its values, so random embeddings of the default
        # encoder's width (384) stand in for encoding 10 captions an image.
        embeddings = folder / "embeddings" / "bench.safetensors"
        embeddings.parent.mkdir()
        save_file(
            {
                "embeddings": torch.randn(num_images, 10, 384).half(),
                "caption_counts": torch.full((num_images,), 10, dtype=torch.long),
            },
            str(embeddings),
        )
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            data = load_prepared(folder, embeddings)
            times.append(time.perf_counter() - start)
        assert len(data.images) == num_images
    return {
        "images": num_images,
        "load_seconds_median": statistics.median(times),
        "load_seconds_first": times[0],
        "runs": times,
        "toy_prepare_images_per_second": num_images / prepare_seconds,
    }


def run_prepare(options: argparse.Namespace) -> dict:
    results = {"machine": machine()}
    if (options.oxford_root / "imagelabels.mat").is_file():
        results["prepare_oxford102"] = bench_prepare_throughput(options.oxford_root, options.repeats)
    else:
        logging.warning("No Oxford-102 images at %s; skipping the JPEG prepare benchmark", options.oxford_root)
    results["cache_load"] = bench_cache_load(options.cache_images, options.repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="Prepare throughput and prepared-cache load time.")
    prepare.add_argument("--oxford-root", type=Path, default=REAL_OXFORD, help="Oxford-102 folder with jpg/.")
    prepare.add_argument("--cache-images", type=int, default=10_000, help="Images in the cache whose load is timed.")
    prepare.add_argument("--repeats", type=int, default=5, help="Runs per figure; the median is reported.")
    prepare.add_argument("--out", type=Path, help="Also write the results as JSON to this file.")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    results = run_prepare(options)
    text = json.dumps(results, indent=2)
    if options.out is not None:
        options.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
