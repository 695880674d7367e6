"""Benchmarks of t2i on the machine it runs on; each prints its medians and writes them as JSON.

Usage:
    python scripts/bench.py                      # every section; one JSON line per figure
    python scripts/bench.py train scaling --update-docs
    python scripts/bench.py prepare [--oxford-root PATH] [--cache-images 10000] [--repeats 5] [--out FILE]
    python scripts/bench.py generate [--model FOLDER] [--repeats 5] [--out FILE]

`train` measures the fp32 matrix-multiply rate, the FLOPs per training image (torch.utils.flop_counter),
the compute-only training throughput (scripts/bench_train.py: the same networks, losses and Adam steps
on tensors in memory, outside Lightning) and the end-to-end throughput of `t2i fit`, all at Reed et
al.'s widths (64 pixels, ngf 128, ndf 64, batch 64), with the peak memory of the training process.
`scaling` measures compute-only throughput at batch sizes 8 to 64 and image sizes 32, 64 and 128.

`prepare` measures:
  - prepare throughput: `prepare_images` on real JPEGs (the Oxford-102 images under --oxford-root,
    by default ../shared/data/real/oxford102) resized to 76 pixels, in images per second;
  - the time to load a prepared cache of --cache-images toy flowers at 76 pixels with caption
    embeddings [images, 10, 384] in float16, as `t2i fit` loads it before its first batch.
`generate` measures, for a model folder (by default an untrained generator of Reed et al.'s size:
64 pixels, ngf 128, with the default MiniLM text encoder; the weights' values do not change the time):
  - a new process to the first saved image, for `t2i generate` and for `t2i.generate()`;
  - one image with its text encoding in a warm pipeline (median of 50 calls);
  - a batch of 64 images from 64 different captions, text encoding included, in a warm pipeline.
Each figure is the median of --repeats runs; the page cache is warm after the first load.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import subprocess
import sys
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


PROMPT = "this flower has five pink petals and a yellow center"


def reed_size_model(folder: Path) -> Path:
    """Write an untrained generator of Reed et al.'s size with the default text encoder as a model folder."""
    from t2i.models.generator import Generator
    from t2i.pipeline import Text2ImagePipeline
    from t2i.text.encoder import DEFAULT_ENCODER

    generator = Generator(embedding_dim=384, noise_dim=100, projection_dim=128, ngf=128, image_size=64)
    config = {
        "generator": {"embedding_dim": 384, "noise_dim": 100, "projection_dim": 128, "ngf": 128, "image_size": 64},
        "text_encoder": {"name": DEFAULT_ENCODER, "revision": None, "pooling": "auto"},
        "training": {"dataset": None, "batches_trained": 0},
    }
    return Text2ImagePipeline(generator, config).save_pretrained(folder)


def time_command(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def bench_generate(model: Path, repeats: int) -> dict:
    from t2i.pipeline import Text2ImagePipeline

    with tempfile.TemporaryDirectory() as out:
        cli = [str(Path(sys.executable).with_name("t2i")), "generate", PROMPT, "--model", str(model),
               "--num-images", "1", "--out", out, "--overwrite"]
        # New processes take seconds each, so at most 3 of each kind are timed.
        cli_times = time_command(cli, min(repeats, 3))
        code = f"import t2i; t2i.generate({PROMPT!r}, model={str(model)!r}, num_images=1)[0].save({out + '/one.png'!r})"
        python_times = time_command([sys.executable, "-c", code], min(repeats, 3))

    pipe = Text2ImagePipeline.from_pretrained(model)
    captions = [f"{PROMPT} number {index}" for index in range(64)]
    pipe(captions, seed=0)
    single = []
    for index in range(50):
        start = time.perf_counter()
        pipe(captions[index], seed=index)
        single.append(time.perf_counter() - start)
    batch = []
    for index in range(repeats):
        start = time.perf_counter()
        pipe(captions, seed=index)
        batch.append(time.perf_counter() - start)
    return {
        "model": str(model),
        "cli_first_image_seconds_median": statistics.median(cli_times),
        "cli_runs": cli_times,
        "python_first_image_seconds_median": statistics.median(python_times),
        "python_runs": python_times,
        "warm_single_image_ms_median": 1000 * statistics.median(single),
        "warm_batch_64_seconds_median": statistics.median(batch),
        "batch_runs": batch,
    }


def run_generate(options: argparse.Namespace) -> dict:
    results = {"machine": machine()}
    with tempfile.TemporaryDirectory() as folder:
        model = options.model or reed_size_model(Path(folder) / "reed-size")
        results["generate"] = bench_generate(model, options.repeats)
    return results


SECTIONS = ("train", "scaling", "generate", "prepare")
DOCS = PROJECT_ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench.py results: begin -->", "<!-- bench.py results: end -->"


def run_train(options: argparse.Namespace) -> dict:
    import bench_train

    size = bench_train.REED
    results = {"matmul_gflops": bench_train.matmul_gflops(repeats=options.repeats * 2)}
    compute = bench_train.compute_only(
        size["image_size"], size["ngf"], size["ndf"], size["batch_size"], options.batches, device=options.device
    )
    results["compute_only"] = compute
    with tempfile.TemporaryDirectory() as cache:
        results["end_to_end"] = bench_train.end_to_end(
            Path(cache), options.batches, options.batches * 3, options.repeats_fit, options.device
        )
    rate = compute["images_per_second"]["median"]
    achieved = rate * compute["flops_per_image"] / 1e9
    results["ratios"] = {
        "compute_only_gflops": achieved,
        "compute_only_fraction_of_matmul": achieved / results["matmul_gflops"]["median"],
        "end_to_end_over_compute_only": results["end_to_end"]["images_per_second"]["median"] / rate,
    }
    return results


def run_scaling(options: argparse.Namespace) -> dict:
    import bench_train

    size = bench_train.REED
    by_batch = {
        str(batch): bench_train.compute_only(
            64, size["ngf"], size["ndf"], batch, options.scaling_batches, device=options.device
        )["images_per_second"]
        for batch in (8, 16, 32, 64)
    }
    by_size = {
        str(image_size): bench_train.compute_only(
            image_size, size["ngf"], size["ndf"], 64, options.scaling_batches, device=options.device
        )["images_per_second"]
        for image_size in (32, 64, 128)
    }
    channels_last = bench_train.compute_only(
        64, size["ngf"], size["ndf"], 64, options.scaling_batches, channels_last=True, device=options.device
    )
    return {"batch_size": by_batch, "image_size": by_size, "channels_last_64": channels_last["images_per_second"]}


def update_docs(results: dict, command: str) -> None:
    """Replace the generated block of docs/benchmarks.md with the results as JSON lines."""
    text = DOCS.read_text(encoding="utf-8")
    block = "\n".join(
        [BEGIN, "", f"Command: `{command}`. Machine: {results['machine']}.", "", "```json"]
        + [json.dumps({"figure": name, **value} if isinstance(value, dict) else {"figure": name, "value": value})
           for name, value in results.items() if name != "machine"]
        + ["```", "", END]
    )
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n## Latest full run\n\n" + block + "\n"
    DOCS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", help=f"Sections to run: {', '.join(SECTIONS)} (default: all).")
    parser.add_argument("--oxford-root", type=Path, default=REAL_OXFORD, help="Oxford-102 folder with jpg/.")
    parser.add_argument("--cache-images", type=int, default=10_000, help="Images in the cache whose load is timed.")
    parser.add_argument("--model", type=Path, help="Model folder for `generate`; default: an untrained generator of Reed et al.'s size.")
    parser.add_argument("--repeats", type=int, default=5, help="Runs per figure; the median is reported.")
    parser.add_argument("--repeats-fit", type=int, default=1, help="Pairs of `t2i fit` runs for the end-to-end figure.")
    parser.add_argument("--batches", type=int, default=4, help="Timed batches per training figure.")
    parser.add_argument("--scaling-batches", type=int, default=2, help="Timed batches per scaling figure.")
    parser.add_argument("--device", default="cpu", help="Device of the training figures: cpu or cuda.")
    parser.add_argument("--out", type=Path, help="Also write the results as JSON to this file.")
    parser.add_argument("--update-docs", action="store_true", help="Write the results into docs/benchmarks.md.")
    options = parser.parse_args()
    unknown = [section for section in options.sections if section not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    runners = {"train": run_train, "scaling": run_scaling, "generate": run_generate, "prepare": run_prepare}
    results = {"machine": machine()}
    print(json.dumps({"figure": "machine", "value": results["machine"]}), flush=True)
    for section in options.sections or SECTIONS:
        for name, value in runners[section](options).items():
            if name == "machine":
                continue
            results[f"{section}.{name}"] = value
            print(json.dumps({"figure": f"{section}.{name}", **value} if isinstance(value, dict) else {"figure": name, "value": value}), flush=True)
    if options.out is not None:
        options.out.write_text(json.dumps(results, indent=2) + "\n")
    if options.update_docs:
        update_docs(results, "python scripts/bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
