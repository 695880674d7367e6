"""The `t2i` command: `fit` (LightningCLI), `prepare`, `generate`, `export` and `evaluate`.

Examples:
    t2i fit --config configs/toy-flowers.yaml
    t2i fit --config configs/toy-flowers.yaml --trainer.max_steps 200 --data.batch_size 32
    t2i fit --config configs/toy-flowers.yaml --ckpt_path last
    t2i prepare oxford102 --root PATH/TO/oxford102
    t2i generate "this flower has five pink petals and a yellow center" --model runs/toy-flowers/checkpoints/last.ckpt
    t2i export --ckpt runs/toy-flowers/checkpoints/last.ckpt --out models/toy-flowers
    t2i generate "a red flower" "a blue flower" --interpolate --model models/toy-flowers
    t2i evaluate --model runs/toy-flowers/checkpoints/last.ckpt --num-samples 200
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

from t2i.errors import T2IError

logger = logging.getLogger("t2i")

COMMANDS = ("fit", "prepare", "generate", "export", "evaluate")


def _configure_logging() -> None:
    # Lightning warns on every manual-optimisation run that checkpoints contain the weights after the
    # optimiser step, which is what t2i wants. The pytree warning comes from Lightning's own code.
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    # t2i's own handler: Lightning already prints its messages through its own, so the root logger gets none.
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
    # Each call writes to the current standard error, which callers that run main() twice may have replaced.
    logger.handlers[0].stream = sys.stderr
    logger.setLevel(logging.INFO)


def check_writable(folder: Path) -> None:
    """Raise ConfigError unless `folder` exists or can be created, and a file can be written in it."""
    from t2i.errors import ConfigError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".t2i-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"cannot write to the output folder {folder} ({error.strerror or error}); pass a writable folder with"
            " --trainer.default_root_dir (and the checkpoint callback's dirpath)"
        ) from error


def run_fit(args: list[str] | None) -> None:
    """Train with LightningCLI; every option of the model, data module and trainer can be set.

    `args` is None when the options come from the command line (sys.argv), as LightningCLI expects.
    """
    from lightning.pytorch.cli import LightningCLI

    from t2i.data.datamodule import TextImageDataModule
    from t2i.training.module import TextToImageGAN

    class T2ICLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.image_size", "model.image_size")
            parser.link_arguments("data.embedding_dim", "model.embedding_dim", apply_on="instantiate")

        def before_instantiate_classes(self) -> None:
            # GAN-CLS updates D and G in separate steps, each leaving the other network's parameters without
            # gradients, which plain DDP rejects; Lightning's registered variant below tolerates that.
            trainer = self.config[self.subcommand]["trainer"] if self.subcommand else self.config["trainer"]
            if trainer.get("strategy") == "ddp":
                trainer["strategy"] = "ddp_find_unused_parameters_true"
                logger.info("Using --trainer.strategy ddp_find_unused_parameters_true, which GAN training needs with DDP")

        def before_fit(self) -> None:
            # Fail before the data are prepared, not at the first checkpoint hours later.
            folders = {Path(self.trainer.default_root_dir)}
            callback = self.trainer.checkpoint_callback
            if callback is not None and getattr(callback, "dirpath", None):
                folders.add(Path(callback.dirpath))
            for folder in folders:
                check_writable(folder)

    T2ICLI(
        TextToImageGAN,
        TextImageDataModule,
        args=args,
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"fit": {"description": "Train a text-to-image GAN (GAN-INT-CLS)."}},
    )


def _generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="t2i generate",
        description="Generate images from captions with a trained model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("captions", nargs="*", help="Captions to draw, one image row each.")
    parser.add_argument(
        "--model", required=True,
        help="A folder written by `t2i export`, or a checkpoint written by `t2i fit` (such as runs/toy-flowers/checkpoints/last.ckpt).",
    )
    parser.add_argument(
        "--prompts-file", type=Path, help="A UTF-8 text file with one caption a line (blank lines are skipped), added to the captions."
    )
    parser.add_argument("--num-images", type=int, default=4, help="Images per caption.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the noise vectors; the same seed gives the same pixels.")
    parser.add_argument("--batch-size", type=int, default=64, help="Images per generator pass.")
    parser.add_argument(
        "--interpolate", action="store_true",
        help="Write a strip of --steps images moving from the first caption to the second, with one noise vector.",
    )
    parser.add_argument("--steps", type=int, default=8, help="Images in the --interpolate strip.")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="Folder for the PNG files and grid.png.")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="Delete the images, grid and captions.txt of an earlier `t2i generate` in --out first; other files stay.",
    )
    return parser


def _read_prompts_file(path: Path) -> list[str]:
    """Return the non-blank lines of a UTF-8 prompts file, with errors that name the file."""
    if path.is_dir():
        raise T2IError(f"prompts file {path} is a folder; pass a text file with one caption a line")
    if not path.is_file():
        raise T2IError(f"prompts file {path} not found; write one caption a line into a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise T2IError(f"prompts file {path} is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8") from error
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise T2IError(f"prompts file {path} has no caption (it is empty or blank); write one caption a line")
    return prompts


def run_generate(args: list[str]) -> None:
    """Write one PNG per generated image and a grid with one row per caption, or an interpolation strip."""
    options = _generate_parser().parse_args(args)
    captions = list(options.captions)
    if options.prompts_file is not None:
        captions += _read_prompts_file(options.prompts_file)
    if not captions:
        raise T2IError("no captions given; pass captions as arguments or with --prompts-file FILE")
    if options.interpolate and len(captions) != 2:
        raise T2IError(f"--interpolate needs exactly two captions (start and end), got {len(captions)}")

    from t2i.images import save_grid
    from t2i.pipeline import Text2ImagePipeline

    _check_generate_out(options.out, options.overwrite)
    pipe = Text2ImagePipeline.from_pretrained(options.model)
    if options.interpolate:
        path = options.out / "interpolation.png"
        images = pipe.interpolate(*captions, steps=options.steps, seed=options.seed)
        options.out.mkdir(parents=True, exist_ok=True)
        save_grid(images, path, columns=len(images))
        for index, image in enumerate(images):
            image.save(options.out / f"interpolation_step{index:02d}.png")
        print(f"Wrote {len(images)} images from {captions[0]!r} to {captions[1]!r} and the strip {path}")
        return

    images = pipe(captions, num_images_per_prompt=options.num_images, seed=options.seed, batch_size=options.batch_size)
    options.out.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        image.save(options.out / f"caption{index // options.num_images:03d}_sample{index % options.num_images:02d}.png")
    save_grid(images, options.out / "grid.png", columns=options.num_images)
    (options.out / "captions.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    print(f"Wrote {len(images)} images and grid.png (one row per caption, listed in captions.txt) to {options.out}")


GENERATED_PATTERNS = ("caption*_sample*.png", "grid.png", "captions.txt", "interpolation*.png")


def _check_generate_out(out: Path, overwrite: bool) -> None:
    """Refuse to mix new images with an earlier run's in `out`; with `overwrite`, delete only those earlier files."""
    earlier = sorted({path for pattern in GENERATED_PATTERNS for path in out.glob(pattern)}) if out.is_dir() else []
    if earlier and not overwrite:
        raise T2IError(
            f"{out} already contains generated images ({earlier[0].name} and {len(earlier) - 1} more);"
            " choose another --out folder or pass --overwrite to replace them"
        )
    for path in earlier:
        path.unlink()


def run_export(args: list[str]) -> None:
    """Write a self-contained model folder from a training checkpoint."""
    parser = argparse.ArgumentParser(
        prog="t2i export",
        description="Export a `t2i fit` checkpoint to a model folder: config.json, generator.safetensors,"
        " a sample grid and a README.md model card. The folder contains no pickle.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--ckpt", required=True, type=Path, help="Checkpoint written by `t2i fit`.")
    parser.add_argument("--out", required=True, type=Path, help="Model folder to write.")
    parser.add_argument("--metrics", type=Path, help="JSON file of scores for the model card, such as `t2i evaluate --out`.")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="Replace an earlier export in --out. A folder with files other than an export's is never written to.",
    )
    options = parser.parse_args(args)

    from t2i.export import export_checkpoint

    folder = export_checkpoint(options.ckpt, options.out, options.metrics, options.overwrite)
    print(f"Exported {options.ckpt} to {folder}; load it with Text2ImagePipeline.from_pretrained({str(folder)!r})")


def run_prepare(args: list[str]) -> None:
    """Decode, crop and resize every image once and encode every caption, into the caches `t2i fit` reads."""
    from t2i.data.prepare import DATASETS, DatasetSpec, prepare_images
    from t2i.data.prepared import prepare_embeddings
    from t2i.text.encoder import DEFAULT_ENCODER

    parser = argparse.ArgumentParser(
        prog="t2i prepare",
        description="Prepare a dataset once into an image cache and a caption-embedding cache. The cache stores"
        " every image with its part of each split, so one cache serves --data.split all, official and zero-shot."
        " A second run with the same settings does nothing; `t2i fit` prepares a missing cache by itself.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("dataset", choices=DATASETS, help="Dataset to prepare.")
    parser.add_argument(
        "--root", help="Dataset folder (not needed for toy-flowers); for huggingface a save_to_disk folder or a Hub id."
    )
    parser.add_argument("--out", default="data/cache", help="Cache folder; pass the same one to `t2i fit` as --data.cache_dir.")
    parser.add_argument("--load-size", type=int, default=76, help="Side in pixels the images are stored at (76 for 64-pixel training).")
    parser.add_argument("--no-crop", action="store_true", help="CUB: keep whole images instead of cropping around the bird.")
    parser.add_argument("--captions-dir", help="Folder with Reed et al.'s text_c10 class folders, when not inside --root.")
    parser.add_argument("--hf-split", default="train", help="huggingface: the dataset split to read.")
    parser.add_argument("--image-column", help="huggingface: the image column (default: the one Image column).")
    parser.add_argument(
        "--caption-column", help="huggingface: the caption column (default: the first of captions, caption, text, ...)."
    )
    parser.add_argument("--label-column", help="huggingface: the class column (default: a ClassLabel column if any).")
    parser.add_argument("--num-images", type=int, default=4000, help="toy-flowers: number of flowers to draw.")
    parser.add_argument("--seed", type=int, default=0, help="toy-flowers: seed of the drawing.")
    parser.add_argument(
        "--encoder", default=DEFAULT_ENCODER,
        help="Hugging Face text encoder id or local folder, or 'precomputed' for StackGAN's char-CNN-RNN embeddings"
        " found in the dataset root.",
    )
    parser.add_argument("--pooling", default="auto", help="Text pooling: auto, mean, mean_normalized, cls or clip.")
    parser.add_argument("--strict", action="store_true", help="Fail on an image that cannot be decoded instead of skipping it.")
    options = parser.parse_args(args)

    spec = DatasetSpec(
        name=options.dataset, root=options.root, load_size=options.load_size, num_images=options.num_images,
        seed=options.seed, crop=not options.no_crop, captions_dir=options.captions_dir, hf_split=options.hf_split,
        image_column=options.image_column, caption_column=options.caption_column, label_column=options.label_column,
    )
    spec.validate()
    folder = prepare_images(spec, options.out, strict=options.strict)
    embeddings = prepare_embeddings(folder, options.out, options.encoder, None, options.pooling, root=options.root)
    print(f"{options.dataset} is ready: images in {folder / 'images'}, caption embeddings in {embeddings}")


def run_evaluate(args: list[str]) -> None:
    """Score a model on a split's held-out images and captions, and write the report with its protocol."""
    from t2i.data.prepare import DATASETS

    parser = argparse.ArgumentParser(
        prog="t2i evaluate",
        description="Generate images from the captions of a split's test part and score them: FID, KID and"
        " Inception Score (torch-fidelity's Inception), CLIP score with --clip-model, and for toy flowers colour"
        " accuracy on new phrasings and held-out colour pairs, and diversity. The dataset defaults to the one the"
        " model was trained on.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="A `t2i export` folder or a `t2i fit` checkpoint.")
    parser.add_argument("--dataset", choices=DATASETS, help="Dataset to score against (default: the model's).")
    parser.add_argument("--root", help="Dataset folder (default: the model's training root).")
    parser.add_argument("--split", help="Split whose test part is scored: official, zero-shot or compositional (default: the model's).")
    parser.add_argument("--num-samples", type=int, default=1000, help="Images to generate, one per caption.")
    parser.add_argument("--toy-samples", type=int, default=200, help="toy-flowers: captions per colour-accuracy score.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the caption choice, the noise and KID's subsets.")
    parser.add_argument("--out", type=Path, help="Write the report as JSON to this file, and the captions beside it.")
    parser.add_argument("--fidelity", choices=("auto", "on", "off"), default="auto",
                        help="FID, KID and Inception Score: auto skips them with the reason when the Inception weights"
                        " are missing offline; on makes that an error.")
    parser.add_argument("--inception-weights", type=Path, help="Path of weights-inception-2015-12-05-6726825d.pth.")
    parser.add_argument("--clip-model", help="Hugging Face CLIP id or folder for the CLIP score.")
    parser.add_argument("--cache-dir", default="data/cache", help="Prepared-data cache and reference-feature cache.")
    parser.add_argument("--batch-size", type=int, default=64, help="Images per generator and Inception pass.")
    options = parser.parse_args(args)

    from t2i.evaluation.report import evaluate_model

    captions_path = options.out.with_suffix(".captions.txt") if options.out is not None else None
    report = evaluate_model(
        options.model,
        {"dataset": options.dataset, "root": options.root, "split": options.split},
        num_samples=options.num_samples, seed=options.seed, cache_dir=options.cache_dir, captions_path=captions_path,
        fidelity=options.fidelity, inception_weights=options.inception_weights, clip_model=options.clip_model,
        toy_samples=options.toy_samples, batch_size=options.batch_size,
    )
    text = json.dumps(report, indent=2)
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(text + "\n")
    print(text)


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print(f"\nCommands: {', '.join(COMMANDS)}. Run `t2i COMMAND --help` for the options of each.")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"t2i: unknown command {command!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    _configure_logging()
    try:
        if command == "fit":
            run_fit(None if from_command_line else [command, *rest])
        elif command == "prepare":
            run_prepare(rest)
        elif command == "generate":
            run_generate(rest)
        elif command == "export":
            run_export(rest)
        else:
            run_evaluate(rest)
    except T2IError as error:
        logger.error("%s", error)
        return 1
    except (ValueError, TypeError) as error:
        # Invalid option values (an empty prompt, --steps 1) reach here from the library's argument checks.
        if command == "fit":
            raise
        logger.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
