"""Ablation of the options beyond Reed et al. on toy flowers, each run given the same training time.

Usage (from the repository root):
    python scripts/ablation.py                      # train, evaluate and print the table
    python scripts/ablation.py --update-docs        # the same, and rewrite the table in docs/ablations.md
    python scripts/ablation.py --seeds 0 --variants faithful improved   # one pair, about 6 minutes
    python scripts/ablation.py --repeat runs/ablation/results.json --out runs/ablation-repeat

Equal training time: every run trains for --budget seconds by Lightning's own clock (`max_time`),
which starts at the first batch, so start-up and caption encoding do not count. The number of batches
each run reached is recorded with its scores. Because a time limit depends on the machine's load,
--repeat trains exactly the recorded batch counts instead, which repeats the table's results.
Runs and reports stay in --out, and finished runs are not trained again. A finished run whose
settings differ from the requested ones (another --budget, say) stops the script with an error.
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
RUN_CONFIG = "ablation-config.yaml"
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


def run_config(run_dir: Path, model_settings: dict, seed: int, seconds: int | None = None, batches: int | None = None) -> dict:
    """Return the fit config of one run: the base toy config with the variant's settings, its seed, and a
    limit of `seconds` of training or of `batches` batches (exactly one of the two)."""
    if (seconds is None) == (batches is None):
        raise ValueError(f"invalid run limits seconds={seconds} and batches={batches}: pass exactly one of seconds and batches")
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["seed_everything"] = seed
    config["model"].update(model_settings, noise_seed=seed)
    config["data"]["seed"] = seed
    trainer = config["trainer"]
    trainer.update(default_root_dir=str(run_dir))
    if seconds is not None:
        trainer.update(max_steps=-1, max_time={"seconds": seconds})
    else:
        # Lightning counts both optimisers' steps, two per batch, so the batch count alone ends the run.
        trainer.update(max_steps=2 * batches, max_time=None)
    trainer["logger"]["init_args"].update(save_dir=str(run_dir), name=f"ablation-{run_dir.name}")
    for callback in trainer["callbacks"]:
        if callback["class_path"].endswith("ModelCheckpoint"):
            # No periodic checkpoints: only last.ckpt, written when training stops, is evaluated.
            callback["init_args"].update(dirpath=str(run_dir / "checkpoints"), every_n_train_steps=0)
    return config


def write_config(run_dir: Path, config: dict) -> Path:
    """Write `config` as the run's ablation-config.yaml and return its path.

    Not config.yaml: `t2i fit` writes the config it parsed there, with every default filled in.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_CONFIG
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def check_finished_run(run_dir: Path, config: dict) -> None:
    """Raise SystemExit when the finished run in `run_dir` was trained with settings other than `config`."""
    path = run_dir / RUN_CONFIG
    if not path.is_file():
        raise SystemExit(f"{run_dir}: {RUN_CONFIG} missing beside its report. Delete the folder to train the run again")
    finished = yaml.safe_load(path.read_text())
    if finished == config:
        return
    limits = {key: finished["trainer"].get(key) for key in ("max_time", "max_steps")}
    raise SystemExit(
        f"{run_dir} was trained with other settings (its limits: {limits}). Pass another --out, or delete the "
        "folder to train the run again"
    )


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


def trained_batches(checkpoint: Path) -> int:
    """Return the number of batches a run trained, from its checkpoint (two optimiser steps per batch)."""
    import torch

    return torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"] // 2


def train_and_evaluate(out: Path, name: str, seed: int, threads: int, seconds: int | None, batches: int | None) -> dict:
    """Train one run and score it with `t2i evaluate`; return the report (read back when it already exists)."""
    run_dir = out / f"{name}-seed{seed}"
    report_path = run_dir / "evaluation.json"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    config = run_config(run_dir, variants()[name], seed, seconds=seconds, batches=batches)
    fit_seconds = None
    if report_path.exists():
        check_finished_run(run_dir, config)
    else:
        limit = f"{seconds} s" if seconds is not None else f"{batches} batches"
        sys.stdout.write(f"training {name} seed {seed} for {limit}, then evaluating; log: {run_dir / 'fit.log'}\n")
        sys.stdout.flush()
        config_path = write_config(run_dir, config)
        fit_seconds = run_command([T2I, "fit", "--config", str(config_path)], run_dir / "fit.log", threads)
        evaluate = [T2I, "evaluate", "--model", str(checkpoint), "--num-samples", "64", "--toy-samples", "200"]
        evaluate += ["--seed", "0", "--fidelity", "off", "--out", str(report_path)]
        run_command(evaluate, run_dir / "evaluate.log", threads)
    batches_trained = trained_batches(checkpoint)
    if fit_seconds is not None:
        # One write per line: runs finish in parallel threads, and print() writes the newline separately.
        sys.stdout.write(f"finished {name} seed {seed}: {batches_trained} batches, {fit_seconds:.0f} s with start-up\n")
        sys.stdout.flush()
    toy = json.loads(report_path.read_text())["toy_flowers"]
    seen, held_out = toy["seen_combinations"], toy["held_out_combinations"]
    return {
        "variant": name,
        "seed": seed,
        "batches": batches_trained,
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


def planned_runs(args: argparse.Namespace) -> list[tuple[str, int, int | None]]:
    """Return (variant, seed, batches) of every run; batches is None for a run limited by --budget."""
    if args.repeat is None:
        # The faithful and improved runs go first and in pairs: the pair of a seed trains at the same
        # time, under the same load, and decides the comparison the improved config exists for.
        first = [name for name in ("faithful", "improved") if name in args.variants]
        runs = [(name, seed) for seed in args.seeds for name in first]
        runs += [(name, seed) for seed in args.seeds for name in args.variants if name not in first]
        return [(name, seed, None) for name, seed in runs]
    if not args.repeat.is_file():
        raise SystemExit(f"--repeat {args.repeat}: file not found. Pass the results.json that an earlier ablation wrote")
    rows = json.loads(args.repeat.read_text())
    unknown = sorted({row["variant"] for row in rows} - set(variants()))
    if unknown:
        raise SystemExit(f"--repeat {args.repeat}: unknown variants {unknown}. Expected variants from {list(variants())}")
    return [(row["variant"], row["seed"], row["batches"]) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=300, help="Training seconds per run (default: 300).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="Seeds of each variant (default: 0 1).")
    parser.add_argument("--variants", nargs="+", choices=list(variants()), default=list(variants()), help="Variants to run (default: all).")
    parser.add_argument("--repeat", type=Path, help="Train the runs and batch counts of this results.json instead of --budget, --seeds and --variants.")
    parser.add_argument("--jobs", type=int, default=2, help="Runs trained at the same time (default: 2).")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run (default: 1).")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ablation", help="Folder of runs and reports (default: runs/ablation).")
    parser.add_argument("--update-docs", action="store_true", help="Rewrite the table in docs/ablations.md.")
    args = parser.parse_args()
    for option, value in (("--budget", args.budget), ("--jobs", args.jobs), ("--threads", args.threads)):
        if value < 1:
            parser.error(f"invalid {option} {value}: pass a positive whole number")
    runs = planned_runs(args)
    # Absolute, so that a finished run's recorded paths match however --out was written.
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    def run(plan: tuple[str, int, int | None]) -> dict:
        name, seed, batches = plan
        seconds = args.budget if batches is None else None
        return train_and_evaluate(args.out, name, seed, args.threads, seconds, batches)

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, runs))
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")

    names = list(dict.fromkeys(row["variant"] for row in rows))
    table = markdown_table(rows, names)
    print(table)
    if args.update_docs:
        update_docs(table, "python " + " ".join(["scripts/ablation.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
