"""Ablation of the options beyond Reed et al. on toy flowers, each run given the same training time.

Usage (from the repository root):
    python scripts/ablation.py                      # calibrate, train, evaluate, print the table
    python scripts/ablation.py --update-docs        # the same, and rewrite the table in docs/ablations.md
    python scripts/ablation.py --budget 120 --seeds 0 --variants faithful improved   # a quicker look

Equal training time: each variant's seconds per batch are measured first, two short `t2i fit` runs
apart (so start-up cost cancels), and each run then trains budget / (seconds per batch) batches. The
batch counts are therefore fixed numbers, and a rerun with the same calibration repeats the results.
Runs, calibration and reports stay in --out, and finished runs are not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "toy-flowers.yaml"
IMPROVED_CONFIG = ROOT / "configs" / "toy-flowers-improved.yaml"
T2I = str(Path(sys.executable).with_name("t2i"))
DOC = ROOT / "docs" / "ablations.md"
TABLE_START, TABLE_END = "<!-- ablation table start -->", "<!-- ablation table end -->"


def variants() -> dict[str, dict]:
    """Return the model settings of each variant: the faithful base, each option alone, and the improved config."""
    base_model = yaml.safe_load(BASE_CONFIG.read_text())["model"]
    improved_model = yaml.safe_load(IMPROVED_CONFIG.read_text())["model"]
    return {
        "faithful": {},
        "conditioning-augmentation": {"conditioning_augmentation": True, "kl_weight": 1.0},
        "minibatch-discrimination": {"minibatch": "discrimination"},
        "minibatch-stddev": {"minibatch": "stddev"},
        "spectral-norm": {"spectral_norm": True},
        "hinge-ma-gp": {"loss": "hinge", "gradient_penalty_weight": 2.0, "gradient_penalty_power": 6.0},
        "ema": {"ema_decay": 0.999},
        "improved": {key: value for key, value in improved_model.items() if base_model.get(key) != value},
    }


def write_config(run_dir: Path, model_settings: dict, seed: int, batches: int) -> Path:
    """Write the fit config of one run: the base toy config with the variant's settings, seed and length."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["seed_everything"] = seed
    config["model"].update(model_settings, noise_seed=seed)
    config["data"]["seed"] = seed
    trainer = config["trainer"]
    # Lightning counts both optimisers' steps, two per batch; the batch count alone ends the run.
    trainer.update(max_steps=2 * batches, max_time=None, default_root_dir=str(run_dir))
    trainer["logger"]["init_args"].update(save_dir=str(run_dir), name=f"ablation-{run_dir.name}")
    for callback in trainer["callbacks"]:
        if callback["class_path"].endswith("ModelCheckpoint"):
            callback["init_args"].update(dirpath=str(run_dir / "checkpoints"), every_n_train_steps=2 * batches)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_command(command: list[str], log: Path, threads: int) -> float:
    """Run `command` with `threads` CPU threads, its output appended to `log`; return its wall time in seconds."""
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), WANDB_MODE="offline")
    start = time.perf_counter()
    with log.open("a") as output:
        output.write("$ " + " ".join(command) + "\n")
        output.flush()
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"command failed with exit status {result.returncode}; see {log}: {' '.join(command)}")
    return time.perf_counter() - start


def calibrate(out: Path, names: list[str], jobs: int, threads: int) -> dict[str, float]:
    """Measure seconds per batch of each variant from two runs of different length; cached in calibration.json.

    NOTE: start-up time varies from run to run, so two whole-process timings are a coarse measure. On a
    2-core CPU one variant's training ran about 15 % faster than its calibration predicted.
    """
    path = out / "calibration.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in names if name not in saved]
    short, long = 40, 160

    def measure(name: str) -> tuple[str, float]:
        times = []
        for batches in (short, long):
            run_dir = out / "calibration" / f"{name}-{batches}"
            config = write_config(run_dir, variants()[name], seed=0, batches=batches)
            times.append(run_command([T2I, "fit", "--config", str(config)], run_dir / "fit.log", threads))
        seconds = (times[1] - times[0]) / (long - short)
        print(f"calibrated {name}: {seconds * 1000:.0f} ms per batch", flush=True)
        return name, seconds

    with ThreadPoolExecutor(jobs) as pool:
        saved.update(dict(pool.map(measure, missing)))
    path.write_text(json.dumps(saved, indent=2) + "\n")
    return saved


def train_and_evaluate(out: Path, name: str, seed: int, batches: int, threads: int) -> dict:
    """Train one run and score it with `t2i evaluate`; return the report (read back when it already exists)."""
    run_dir = out / f"{name}-seed{seed}"
    report_path = run_dir / "evaluation.json"
    if not report_path.exists():
        config = write_config(run_dir, variants()[name], seed, batches)
        fit_seconds = run_command([T2I, "fit", "--config", str(config)], run_dir / "fit.log", threads)
        checkpoint = run_dir / "checkpoints" / "last.ckpt"
        evaluate = [T2I, "evaluate", "--model", str(checkpoint), "--num-samples", "64", "--toy-samples", "200"]
        evaluate += ["--seed", "0", "--fidelity", "off", "--out", str(report_path)]
        run_command(evaluate, run_dir / "evaluate.log", threads)
        print(f"finished {name} seed {seed}: {batches} batches in {fit_seconds:.0f} s", flush=True)
    toy = json.loads(report_path.read_text())["toy_flowers"]
    seen, held_out = toy["seen_combinations"], toy["held_out_combinations"]
    return {
        "variant": name,
        "seed": seed,
        "batches": batches,
        "attribute_accuracy": (seen["petal_colour_accuracy"] + seen["centre_colour_accuracy"]) / 2,
        "held_out_accuracy": (held_out["petal_colour_accuracy"] + held_out["centre_colour_accuracy"]) / 2,
        "held_out_both": held_out["both_colours_accuracy"],
        "diversity": toy["diversity"]["ratio"],
    }


def markdown_table(rows: list[dict], names: list[str]) -> str:
    """Return the per-seed rows and the mean over seeds of each variant as a Markdown table."""
    lines = [
        "| variant | seed | batches | attribute accuracy | held-out accuracy | held-out both colours | diversity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        group = [row for row in rows if row["variant"] == name]
        for row in group:
            lines.append(
                f"| {name} | {row['seed']} | {row['batches']} | {row['attribute_accuracy']:.3f} |"
                f" {row['held_out_accuracy']:.3f} | {row['held_out_both']:.3f} | {row['diversity']:.3f} |"
            )
        means = {key: statistics.mean(row[key] for row in group) for key in ("attribute_accuracy", "held_out_accuracy", "held_out_both", "diversity")}
        lines.append(
            f"| **{name}** | mean | | **{means['attribute_accuracy']:.3f}** | **{means['held_out_accuracy']:.3f}** |"
            f" **{means['held_out_both']:.3f}** | **{means['diversity']:.3f}** |"
        )
    return "\n".join(lines)


def update_docs(table: str, command: str) -> None:
    text = DOC.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    DOC.write_text(text[:start] + f"\n\nProduced by `{command}`.\n\n{table}\n\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=300, help="Training seconds per run (default: 300).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="Seeds of each variant (default: 0 1).")
    parser.add_argument("--variants", nargs="+", choices=list(variants()), default=list(variants()), help="Variants to run (default: all).")
    parser.add_argument("--jobs", type=int, default=2, help="Runs trained at the same time (default: 2).")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run (default: 1).")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ablation", help="Folder of runs and reports.")
    parser.add_argument("--update-docs", action="store_true", help="Rewrite the table in docs/ablations.md.")
    args = parser.parse_args()
    if args.budget <= 0 or args.jobs < 1 or args.threads < 1:
        parser.error(f"--budget, --jobs and --threads must be positive, got {args.budget}, {args.jobs} and {args.threads}")
    args.out.mkdir(parents=True, exist_ok=True)

    seconds_per_batch = calibrate(args.out, args.variants, args.jobs, args.threads)
    batches = {name: max(1, round(args.budget / seconds_per_batch[name])) for name in args.variants}
    print(json.dumps({"batches_per_run": batches}), flush=True)
    # The faithful and improved runs go first: they decide the comparison the improved config exists for.
    first = [name for name in ("faithful", "improved") if name in args.variants]
    runs = [(name, seed) for seed in args.seeds for name in first]
    runs += [(name, seed) for seed in args.seeds for name in args.variants if name not in first]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda run: train_and_evaluate(args.out, *run, batches[run[0]], args.threads), runs))
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")

    table = markdown_table(rows, args.variants)
    print(table)
    if args.update_docs:
        update_docs(table, "python " + " ".join(["scripts/ablation.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
