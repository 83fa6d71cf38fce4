"""`medgen img`: train the class-conditional image GAN, sample PNGs from a run, evaluate
a run (FID/KID beside the real floor, memorisation, train-synthetic-test-real AUC).

Heavy imports stay inside the commands so ``--help`` is instant; errors are
:class:`~training.errors.MedgenError` subclasses, which ``medgen.cli.main`` turns into
one line and exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medgen.cli.output import Format, print_rows, progress, say
from medgen.errors import RunError

app = typer.Typer(
    help="Medical images: train a class-conditional GAN (spectral norm, hinge loss, "
    "DiffAugment, EMA generator) on an npz, image folder, DICOM or NIfTI source, or on "
    "the offline demo set (MNI152 template slices); sample PNGs; evaluate realism, "
    "memorisation and usefulness. Runs live under the state folder; --run defaults to "
    "the latest.",
    no_args_is_help=True)

RunOption = Annotated[Path | None, typer.Option(
    "--run", help="run folder (default: the latest `medgen img train` run)",
    file_okay=False)]


@app.command("train")
def train(
    data: Annotated[Path | None, typer.Option(
        "--data", help="a MedMNIST .npz, a folder of PNG/JPEG images (one sub-folder per "
        "class, or --labels), a DICOM file or series folder, or a NIfTI volume (.nii, "
        ".nii.gz) or folder of them; omitted: the offline demo set (slices of nilearn's "
        "MNI152 T1 template, one class per anatomical plane)")] = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="CSV with columns file,label (paths relative to --data) for image "
        "folders and volumes", dir_okay=False)] = None,
    max_time: Annotated[float | None, typer.Option(
        "--max-time", help="training wall-clock budget in seconds")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="most epochs to train")] = 200,
    resolution: Annotated[int, typer.Option(
        "--resolution", help="image size in pixels: 28, 32 or 64 (images are converted "
        "to one channel and resized to it; the output says so)")] = 28,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    channels: Annotated[int, typer.Option(
        "--channels", help="width of the networks (32 trains on a CPU; 64+ on a GPU)")] = 32,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", help="run folder to create (default: a new one under the state folder)",
        file_okay=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue the interrupted run in --out from its last checkpoint, "
        "with that run's own settings (the data and training options are not given "
        "again)")] = False,
) -> None:
    """Train a GAN on --data (or the demo set).

    The model kept is the checkpoint with the lowest val_kid (KID of a fixed sample of
    generated images against training images), checked every few hundred batches, with
    early stopping. A killed run continues with --resume --out RUN.
    """
    from medgen import img_jobs

    if resume:
        if out is None:
            raise RunError("--resume needs the run to continue: give --out DIR")
        config = img_jobs.resume_config(out)
        say(f"resuming {out} from its last checkpoint, with its own settings")
        record = img_jobs.train_job(config, run_dir=out, log=say, resume=True)
        say(f"sample with: medgen img sample -n 64 --run {record['run_dir']} --out samples/")
        return
    config = img_jobs.ImgJobConfig(
        data=str(data) if data is not None else None,
        labels_csv=str(labels) if labels is not None else None, resolution=resolution,
        max_epochs=epochs, max_time_s=max_time, batch_size=batch_size, channels=channels,
        seed=seed)
    if data is None:
        say("no --data: training on the demo set (MNI152 template slices; not clinical data)")
    record = img_jobs.train_job(config, run_dir=out, log=say)
    say(f"sample with: medgen img sample -n 64 --run {record['run_dir']} --out samples/")


@app.command("sample")
def sample(
    n: Annotated[int, typer.Option("-n", help="number of images")],
    out: Annotated[Path, typer.Option("--out", help="folder for the PNGs and grid.png",
                                      file_okay=False)],
    class_name: Annotated[str | None, typer.Option(
        "--class", help="only this class (a name from training, or its index); default: "
        "the training set's class proportions")] = None,
    run: RunOption = None,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same images")] = 0,
) -> None:
    """Write N generated images as PNG files plus a grid of them.

    Images come from the run's EMA generator; the same --seed gives the same images.
    """
    from medgen import img_jobs

    run_dir = img_jobs.resolve_run(run)
    with progress() as bar:
        task = bar.add_task("sampling", total=n)
        result = img_jobs.sample_job(run_dir, n, out, class_name=class_name, seed=seed,
                                     progress=lambda k: bar.advance(task, k))
    classes = ", ".join(f"{name} {count}" for name, count in result["classes"].items())
    say(f"wrote {result['images']} images ({classes}) and {result['grid']} from {run_dir}")


@app.command("evaluate")
def evaluate(
    run: RunOption = None,
    max_compare: Annotated[int, typer.Option(
        "--max-compare", help="images per set in FID/KID; larger sets are sampled down "
        "(Inception features are slow on a CPU)")] = 1000,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Realism, memorisation and usefulness of a run's generator.

    FID and KID of generated against test images beside the real floor (train against
    test, same sizes), the memorised share, and the AUC of a classifier trained on
    generated images only beside one trained on real images. Pictures and metrics.json
    go to <run>/evaluation.
    """
    from imaging.evaluation import EvaluationConfig
    from medgen import img_jobs

    run_dir = img_jobs.resolve_run(run)
    with progress() as bar:
        tasks: dict[str, int] = {}

        def advance(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        report = img_jobs.evaluate_job(run_dir, config=EvaluationConfig(
            max_compare=max_compare), progress=advance)
    rows = [
        {"figure": "FID generated vs test", "value": round(report["fid"], 2)},
        {"figure": "FID floor train vs test", "value": round(report["fid_floor_train_vs_test"], 2)},
        {"figure": "FID ratio", "value": _round(report["fid_ratio"], 3)},
        {"figure": "KID generated vs test", "value": round(report["kid"]["mean"], 4)},
        {"figure": "KID floor train vs test",
         "value": round(report["kid_floor_train_vs_test"]["mean"], 4)},
        {"figure": "memorised share", "value": round(report["memorised_share"], 4)},
        {"figure": "TSTR AUC (trained on generated)", "value": round(report["tstr_auc"], 4)},
        {"figure": "AUC trained on real", "value": round(report["real_auc"], 4)},
    ] + [{"figure": f"goal {name}", "value": "met" if goal["met"] else "NOT met"}
         for name, goal in report["goals"].items()]
    title = f"{report['data']}{' (demo set)' if report['demo'] else ''}: {report['sizes']}"
    print_rows(rows, fmt, title=title)
    if fmt is Format.table:
        say(f"metrics and pictures in {run_dir / img_jobs.EVALUATION_DIR}")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
