"""`medgen mol`: train the molecular VAE, generate candidates for screening,
score molecule files with the MOSES metrics, and link candidates into the graph.

Heavy imports stay inside the commands so ``--help`` is instant; errors are
:class:`~training.errors.MedgenError` subclasses, which ``medgen.cli.main``
turns into one line and exit 1.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from medgen.cli.output import Format, open_store, print_rows, progress, say, warn
from medgen.errors import RunError
from medgen.mol_jobs import TRAIN_SMILES, load_model, resolve_checkpoint, training_set

app = typer.Typer(help="Molecules: train the VAE, generate candidates (CSV + SDF), "
                      "MOSES metrics of a file, link candidates to approved drugs in Neo4j.",
                      no_args_is_help=True)

# --optimise fits its property head on a seeded sample of this many training molecules, the
# number benchmarks/molgen_analogues.py measured with (16 s on 2 cores); all 100,000 of a
# `--moses 100000` model would take minutes of RDKit and MLP work before the first seed.
HEAD_MOLECULES = 5000
CANDIDATES_CSV = "candidates.csv"
CANDIDATES_SDF = "candidates.sdf"


class TokenizerKind(str, Enum):
    selfies = "selfies"
    smiles = "smiles"
    kekule = "kekule"


class ModelSize(str, Enum):
    tiny = "tiny"  # seconds on a dozen molecules: smoke tests, demos
    small = "small"  # VAEConfig.small(): CPU-friendly
    moses = "moses"  # the MOSES VAE's sizes (VAEConfig defaults)


class Objective(str, Enum):
    qed = "qed"


class Precision(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"


class Prior(str, Enum):
    auto = "auto"  # the fitted mixture when the model has one, else N(0, I)
    mixture = "mixture"
    normal = "normal"


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


def _report_invalid(file) -> None:
    for line in file.problems()[:20]:
        warn(f"skipped {line}")
    if len(file.invalid) > 20:
        warn(f"... and {len(file.invalid) - 20} more invalid molecule(s) in {file.path}")


# train ------------------------------------------------------------------------------------
@app.command("train")
def mol_train(
    smiles: Annotated[Path | None, typer.Option(
        "--smiles", help="SMILES/CSV/SDF file of training molecules")] = None,
    moses: Annotated[int | None, typer.Option(
        "--moses", min=10, help="Train on N molecules of a seeded sample of MOSES train")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    max_time: Annotated[float, typer.Option(
        "--max-time", min=0, help="Wall-clock budget in seconds (0: none, the epochs "
        "bound the run; only then does a resumed run repeat an uninterrupted one exactly)"
        )] = 600,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder for the model")] = Path(
        "runs/mol"),
    tokenizer: Annotated[TokenizerKind, typer.Option(
        help="What the model spells molecules in. smiles: some samples are invalid and are "
        "dropped; the rest lie close to the training molecules. kekule: SMILES with aromatic "
        "rings as single and double bonds, so no aromatic ring can be misspelt. selfies: "
        "every sample is valid because SELFIES repairs what the model misspells, into "
        "molecules far from the training ones. Measured effects: docs/molecules.md"
        )] = TokenizerKind.smiles,
    size: Annotated[ModelSize, typer.Option(help="Model size")] = ModelSize.small,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Molecules a step. On a CPU a smaller batch buys more optimiser steps "
        "in the same budget (docs/molecules.md)")] = 64,
    lr: Annotated[float, typer.Option(min=1e-6, help="Adam learning rate")] = 2e-3,
    lr_decay: Annotated[bool, typer.Option(
        "--lr-decay/--constant-lr", help="Let the learning rate fall to 5% along a cosine over "
        "the run's steps, or keep it at --lr. Measured effect: docs/molecules.md")] = True,
    seed: Annotated[int, typer.Option()] = 0,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid/--strict", help="Skip invalid molecules (listed with file:line) or "
        "refuse the file")] = True,
    precision: Annotated[Precision, typer.Option(
        help="bfloat16 trains with bf16 autocast over float32 weights: faster on CPUs with "
        "AVX512-BF16 or AMX, much slower on others (docs/molecules.md)")] = Precision.float32,
    mixture: Annotated[int, typer.Option(
        "--mixture", min=0, help="After training, fit a Gaussian mixture of this many "
        "components to the latent codes of (up to 20,000) training molecules, which `mol "
        "generate` samples instead of N(0, I); it runs after the --max-time budget. 0: none. "
        "Measured effect: docs/molecules.md")] = 50,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue the interrupted run in --out from its last checkpoint, "
        "with that run's own molecules and settings (not given again); it ends where an "
        "uninterrupted run ends")] = False,
) -> None:
    """Train the SMILES (or SELFIES) VAE on a file or on MOSES, small CPU-friendly sizes,
    then fit the latent mixture that `mol generate` samples from. A killed run continues
    with --resume --out RUN."""
    from medgen.mol_jobs import resume_settings, train_vae
    from molgen.data import read_smiles_file

    if resume:
        if smiles is not None or moses is not None:
            raise RunError("--resume continues with the run's own molecules: give --out RUN "
                           "without --smiles or --moses")
        corpus, settings = resume_settings(out_dir)
        say(f"resuming {out_dir} from its last checkpoint, with its own settings")
    elif (smiles is None) == (moses is None):
        raise RunError("give exactly one of --smiles FILE or --moses N")
    elif smiles is not None:
        file = read_smiles_file(smiles, on_invalid="skip" if skip_invalid else "raise")
        _report_invalid(file)
        corpus = list(dict.fromkeys(file.smiles))
    else:
        from molgen.moses_data import moses_smiles

        train = moses_smiles("train")
        corpus = random.Random(seed).sample(train, min(moses, len(train)))
    if not resume:
        settings = dict(tokenizer=tokenizer.value, size=size.value, epochs=epochs,
                        max_time=max_time or None, batch_size=batch_size, lr=lr, lr_decay=lr_decay,
                        seed=seed, precision=precision.value, mixture=mixture)
    if settings["mixture"] and len(corpus) < 2:
        warn("no latent mixture: it needs the codes of at least 2 training molecules; "
             "`mol generate` samples N(0, I)")
    with progress() as bar:
        def fitting(n: int) -> None:
            bar.add_task(f"fitting the latent mixture on {n:,} training molecules", total=None)

        result = train_vae(corpus, out_dir, on_fit_mixture=fitting, resume=resume,
                           **settings)
    say(f"trained on {result.molecules} molecules ({settings['tokenizer']}) for "
        f"{result.epochs} "
        "epochs" + (f", train loss {result.train_loss:.3f}" if result.train_loss is not None
                    else ""))
    if result.mixture_components is not None:
        say(f"latent mixture: {result.mixture_components} component(s) on "
            f"{result.mixture_fitted_on} training molecules' codes")
    say(f"model: {result.checkpoint}")


# generate ---------------------------------------------------------------------------------
def _default_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0))))


@app.command("generate")
def mol_generate(
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="Valid molecules to sample from "
                                   "the prior (invalid samples are drawn again, up to 50 x N "
                                   "draws; repeats are then merged); with --seed-smiles, "
                                   "decodings per seed; with --optimise, the best "
                                   "candidates kept per seed")],
    model: Annotated[Path, typer.Option(help="Run folder of `mol train` or a .ckpt file")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for candidates.csv/.sdf")],
    seed_smiles: Annotated[list[str] | None, typer.Option(
        "--seed-smiles", help="Sample analogues around this molecule (repeatable)")] = None,
    optimise: Annotated[Objective | None, typer.Option(
        help="Raise this property around each seed, keeping SA <= 4 and Tanimoto >= 0.4: a "
        "head fitted on the model's training molecules picks which of 20,000 nearby latents "
        "to decode (672, in 4 rounds). Measured gain: docs/molecules.md")] = None,
    temperature: Annotated[float, typer.Option(
        min=0.0, help="Of the token draws: 1 samples the model as MOSES scores it; lower "
        "draws closer to MOSES test molecules and more valid ones; 0 decodes greedily. "
        "Measured effect: docs/molecules.md")] = 1.0,
    prior: Annotated[Prior, typer.Option(
        help="Where prior samples start: mixture, the latent mixture `mol train` fits after "
        "training; normal, N(0, I), as MOSES samples; auto, the mixture when the model has "
        "one. Measured effect: docs/molecules.md")] = Prior.auto,
    syntax: Annotated[bool, typer.Option(
        "--syntax/--no-syntax", help="SMILES models: mask, as each token is drawn, the "
        "tokens that cannot be right there (a branch closed that never opened, a ring bond "
        "closed onto a bonded atom, a misnumbered ring, a bond beyond an atom's valence); "
        "Kekule models (mol train --tokenizer kekule) too. Measured effect: "
        "docs/molecules.md")] = False,
    conformers: Annotated[bool, typer.Option(
        help="3D conformers in the SDF (ETKDG + MMFF)")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes for the RDKit work (properties, PAINS/Brenk, "
        "InChIKey)")] = _default_workers(),
    threads: Annotated[int, typer.Option(
        min=1, help="Torch threads for sampling: the decoder's small products gain little "
        "from more, and lose much when another process holds a core")] = 1,
    precision: Annotated[Precision, typer.Option(
        help="Precision of the decoder's matrix products in prior sampling. bfloat16 samples "
        "faster on CPUs with AVX512-BF16 or AMX (slower on others) and draws other "
        "molecules from the same --seed (docs/molecules.md)")] = Precision.float32,
    fused: Annotated[bool, typer.Option(
        help="Compile the decoder's GRU step with torch.compile (needs a C++ compiler): "
        "faster prior sampling after seconds of compiling, so for large -n only. Measured "
        "effect: docs/molecules.md")] = False,
) -> None:
    """Sample molecules and write candidates.csv and candidates.sdf (valid, de-duplicated,
    with properties and filter flags)."""
    import pandas as pd
    import torch

    from molgen.errors import InvalidMolecule
    from molgen.export import (
        DESCRIBE_CHUNK,
        candidate_table,
        describe_pool,
        write_csv,
        write_sdf,
    )
    from molgen.generate import (
        LatentOptimisationConfig,
        fit_property_head,
        optimise_latent,
        sample_analogues,
        sample_valid,
    )

    if optimise is not None and not seed_smiles:
        raise RunError("--optimise needs at least one --seed-smiles to optimise around")
    torch.set_num_threads(threads)
    task = load_model(model)
    task.use_smiles_syntax(syntax)
    task.use_fused_sampling(fused)
    if prior is Prior.mixture and task.latent_mixture is None:
        raise RunError(f"{model}: this model has no latent mixture (models trained before it "
                       "existed, or with --mixture 0); use --prior normal")
    training = training_set(model)
    run_id = f"{resolve_checkpoint(model)}#seed={seed}"
    # Worker processes start now, so that their imports overlap the sampling;
    # a small run is described in this process.
    expected = n * max(1, len(seed_smiles or []))
    parallel = workers > 1 and expected > DESCRIBE_CHUNK
    with (describe_pool(workers) if parallel else contextlib.nullcontext()) as pool, \
            progress() as bar:
        try:
            if optimise is not None:
                if not training:
                    raise RunError(f"--optimise needs the training molecules ({TRAIN_SMILES}) "
                                   "next to the model to fit its property head")
                fitted_on = sorted(training)
                if len(fitted_on) > HEAD_MOLECULES:
                    fitted_on = random.Random(seed).sample(fitted_on, HEAD_MOLECULES)
                fitting = bar.add_task(f"fitting the {optimise.value} head on "
                                       f"{len(fitted_on):,} training molecules", total=1)
                head = fit_property_head(task, fitted_on, properties=(optimise.value, "sa"),
                                         seed=seed)
                bar.advance(fitting)
                optimising = bar.add_task("optimising", total=len(seed_smiles or []))
                frames = []
                for s in seed_smiles or []:
                    res = optimise_latent(task, head, s,
                                          LatentOptimisationConfig(maximise=optimise.value),
                                          seed=seed)
                    frames.append(res.candidates.head(n).assign(seed=res.seed))
                    bar.advance(optimising)
                found = pd.concat(frames, ignore_index=True)
                smiles = found["smiles"].tolist()
                drawn = len(smiles)
                extra = pd.DataFrame({"method": f"optimise_{optimise.value}",
                                      "seed_smiles": found["seed"],
                                      "seed_tanimoto": found["tanimoto"]})
            elif seed_smiles:
                found = sample_analogues(task, seed_smiles, n_samples=n, temperature=temperature,
                                         seed=seed)
                smiles = found["smiles"].tolist()
                drawn = len(smiles)
                extra = pd.DataFrame({"method": "analogue", "seed_smiles": found["seed"],
                                      "seed_tanimoto": found["tanimoto"]})
            else:
                sampling = bar.add_task("sampling", total=n)
                smiles, drawn = sample_valid(task, n, temperature=temperature, seed=seed,
                                             precision=precision.value, prior=prior.value,
                                             progress=lambda k: bar.advance(sampling, k))
                extra = pd.DataFrame({"method": ["prior"] * len(smiles)})
        except InvalidMolecule as e:
            raise RunError(f"--seed-smiles: {e}") from e
        extra["run_id"] = run_id
        describing = bar.add_task("describing", total=len(smiles))
        table = candidate_table(smiles, extra.reset_index(drop=True), training=training,
                                pool=pool, progress=lambda k: bar.advance(describing, k))
    if table.empty:
        raise RunError(f"no valid molecule among {drawn} generated; try another seed, "
                       "a lower --temperature or a better-trained model")
    csv_path = write_csv(table, out_dir / CANDIDATES_CSV)
    sdf_path = write_sdf(table, out_dir / CANDIDATES_SDF, conformers=conformers, seed=seed)
    valid = sum(s is not None for s in smiles)
    say(f"{len(table)} unique valid molecules from {drawn} generated ({valid} valid); "
         f"{int(table['passes_filters'].sum())} pass Lipinski, Veber and PAINS")
    if not seed_smiles and valid < n:
        say(f"fewer than the {n} asked for: the model wrote {valid} valid molecules in "
             f"{drawn} draws; train it longer or sample at a lower --temperature")
    say(f"wrote {csv_path} and {sdf_path}")


# evaluate ---------------------------------------------------------------------------------
@app.command("evaluate")
def mol_evaluate(
    file: Annotated[Path, typer.Argument(help="SMILES (.smi/.txt), CSV/TSV or SDF file")],
    fmt: Annotated[EvalFormat, typer.Option("--format")] = EvalFormat.table,
    fcd: Annotated[bool, typer.Option("--fcd/--no-fcd", help="FCD (slow on a CPU)")] = True,
    train: Annotated[Path | None, typer.Option(
        help="Training molecules for Novelty (default: MOSES train)")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid/--strict", help="Count invalid molecules as invalid (listed with "
        "file:line) or refuse the file")] = True,
) -> None:
    """The MOSES metrics of the molecules in FILE."""
    from molgen.data import read_smiles_file
    from molgen.metrics import moses_metrics

    data = read_smiles_file(file, on_invalid="skip" if skip_invalid else "raise")
    _report_invalid(data)
    train_set = None
    if train is not None:
        train_set = set(read_smiles_file(train).smiles)
    # invalid entries stay in so that Valid counts them; they cannot parse again
    generated = data.smiles + [r.text for r in data.invalid]
    # the MOSES data comes from scripts/prepare_moses.py; if it is missing, the
    # MosesDataUnavailable raised here is the one-line error saying to run it
    with progress() as bar:
        tasks: dict[str, int] = {}  # stage -> rich task id

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = moses_metrics(generated, train=train_set, include_fcd=fcd, progress=advance)
    if fmt is EvalFormat.json:  # NaN (a metric undefined for this set) as null: strict JSON
        metrics = {k: None if math.isnan(v) else v for k, v in result.items()}
        print(json.dumps({"file": str(file), "molecules": len(generated),
                          "invalid": len(data.invalid), "metrics": metrics}, indent=2))
        return

    rows = [{"metric": k, "value": f"{v:.4f}"} for k, v in result.items()]
    print_rows(rows, Format.table, title=f"MOSES metrics of {len(generated)} molecules")


# link -------------------------------------------------------------------------------------
@app.command("link")
def mol_link(
    candidates: Annotated[Path, typer.Option(help="candidates.csv from `mol generate`")],
    min_tanimoto: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.4,
    top_k: Annotated[int, typer.Option(min=1, help="Links per candidate, nearest first")] = 1,
    run_id: Annotated[str | None, typer.Option(
        help="Provenance (default: the run_id column, else the file)")] = None,
) -> None:
    """Write candidates to Neo4j as Candidate nodes, ANALOG_OF their nearest approved drugs."""
    import pandas as pd

    from medgen.candidates import link_candidates
    from molgen.data import read_smiles_file
    from molgen.export import candidate_table

    data = read_smiles_file(candidates)  # checks the file; every molecule re-validated
    _report_invalid(data)
    extra = None
    if data.format == "csv":
        frame = pd.read_csv(candidates, dtype=str, keep_default_na=False)
        keep = [c for c in ("method", "seed_smiles", "run_id") if c in frame.columns]
        column = next((c for c in frame.columns if c.strip().lower() == "smiles"), None)
        if keep and column is not None:
            by_smiles = frame.drop_duplicates(column).set_index(column)[keep]
            extra = by_smiles.reindex([r.input for r in data.records]).reset_index(drop=True)
    table = candidate_table(data.smiles, extra)
    report = link_candidates(open_store(), table, run_id=run_id or str(candidates.resolve()),
                             min_tanimoto=min_tanimoto, top_k=top_k)
    say(f"wrote {report.candidates} Candidate nodes and {report.links} ANALOG_OF links "
         f"(Tanimoto >= {min_tanimoto}, top {top_k}) against {report.drugs} drugs")
    if report.skipped_drugs:
        warn(f"{len(report.skipped_drugs)} Compound SMILES RDKit refused were left out")
