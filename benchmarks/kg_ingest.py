"""Ingest benchmark: the default graph (HPO + ChEMBL approved drugs) into an
empty database by the online path (batched UNWIND ... MERGE) and by the bulk
path (neo4j-admin import), and a naive one-row-per-transaction MERGE on a
sample of edges, all in one run on a throwaway server of our own.

    .venv/bin/python benchmarks/kg_ingest.py [--repeats 3] [--naive-edges 5000]

Prints nodes/s, relationships/s and the ratios; writes
benchmarks/results/kg_ingest.json. Timings are medians over --repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import neo4j

from kg import queries
from kg.bulk import write_bulk_csv
from kg.store import GraphStore
from medgen.neo4j_server import ManagedServer, free_port
from medgen.pipeline import build_online, default_sources

RESULTS = Path(__file__).resolve().parent / "results" / "kg_ingest.json"


def naive_merge(store: GraphStore, table, n: int) -> float:
    """One transaction per edge, the way a first script often writes it; seconds."""
    query = queries.merge_edges(store.schema, table.type, table.start_label, table.end_label)
    rows = table.frame.head(n)
    t0 = time.perf_counter()
    with store.driver.session() as s:
        for start, end in zip(rows["start"], rows["end"], strict=True):
            s.execute_write(lambda tx, a=start, b=end: tx.run(
                query, rows=[{"start": a, "end": b, "props": {}}], common={}).consume())
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="runs of each path; medians reported")
    ap.add_argument("--naive-edges", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=5000)
    args = ap.parse_args()
    load = os.getloadavg()[0]

    t0 = time.perf_counter()
    sources = default_sources()
    load_s = time.perf_counter() - t0
    n_nodes = sum(len(t) for s in sources for t in s.nodes)
    n_rels = sum(len(t) for s in sources for t in s.edges)
    print(f"sources parsed in {load_s:.1f} s: {n_nodes} nodes, {n_rels} relationships",
          file=sys.stderr)

    online, bulk_total, bulk_csv, bulk_import, bulk_restart, bulk_path = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        server = ManagedServer(home=Path(tmp) / "neo4j", port=free_port())
        server.start()
        driver = neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", server.password()))
        store = GraphStore(driver)
        try:
            for i in range(args.repeats):
                store.clear()
                report = build_online(store, sources, batch_size=args.batch_size)
                online.append(report.seconds)
                print(f"online #{i + 1}: {report.seconds:.1f} s", file=sys.stderr)
            counts_online = store.counts()

            # naive path on the HPO gene-disease links, into the graph the online build left
            gene_disease = next(t for s in sources for t in s.edges if t.type == "ASSOCIATED_WITH")
            store.run_read("RETURN 1")
            naive_s = naive_merge(store, gene_disease, args.naive_edges)
            n_naive = min(args.naive_edges, len(gene_disease))

            for i in range(args.repeats):
                t_start = time.perf_counter()
                files = write_bulk_csv(sources, Path(tmp) / f"csv{i}", store.schema)
                t_csv = time.perf_counter()
                server.stop()
                t_stop = time.perf_counter()
                server.import_full(files.nodes, files.relationships)
                t_import = time.perf_counter()
                server.start()
                store.ensure_schema(sorted({t.label for s in sources for t in s.nodes}))
                t_end = time.perf_counter()
                bulk_csv.append(t_csv - t_start)
                bulk_import.append(t_import - t_stop)
                bulk_restart.append(t_end - t_import + (t_stop - t_csv))
                bulk_total.append(t_end - t_start)
                # the path itself (canonical tables -> CSV -> neo4j-admin) against the tool
                # alone; Community has no STOP DATABASE, so the restart is on top of it
                bulk_path.append((t_csv - t_start + t_import - t_stop) / (t_import - t_stop))
                print(f"bulk #{i + 1}: {t_end - t_start:.1f} s (csv {t_csv - t_start:.1f}, "
                      f"import {t_import - t_stop:.1f})", file=sys.stderr)
            counts_bulk = store.counts()
        finally:
            driver.close()
            server.stop()

    med = statistics.median
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "repeats": args.repeats,
        "load_average_at_start": round(load, 2),
        "nodes": n_nodes,
        "relationships": n_rels,
        "parse_seconds": round(load_s, 2),
        "online": {"seconds": round(med(online), 2),
                   "nodes_per_s": round(n_nodes / med(online)),
                   "relationships_per_s": round(n_rels / med(online)),
                   "batch_size": args.batch_size},
        "bulk": {"seconds": round(med(bulk_total), 2),
                 "csv_seconds": round(med(bulk_csv), 2),
                 "neo4j_admin_import_seconds": round(med(bulk_import), 2),
                 "stop_start_and_constraints_seconds": round(med(bulk_restart), 2),
                 "nodes_per_s": round(n_nodes / med(bulk_total)),
                 "relationships_per_s": round(n_rels / med(bulk_total))},
        "naive_one_tx_per_edge": {"edges": n_naive, "seconds": round(naive_s, 2),
                                  "relationships_per_s": round(n_naive / naive_s)},
        "ratios": {
            "online_over_naive_rels_per_s": round((n_rels / med(online)) / (n_naive / naive_s), 1),
            "bulk_over_online_speed": round(med(online) / med(bulk_total), 2),
            "bulk_path_over_raw_import": round(med(bulk_path), 2),
            "bulk_total_with_restart_over_raw_import": round(med(bulk_total) / med(bulk_import), 2),
        },
        "same_counts_online_and_bulk": counts_online == counts_bulk,
        "counts": counts_online,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'path':<28}{'seconds':>10}{'nodes/s':>12}{'rels/s':>12}")
    for name, key in (("online (UNWIND MERGE)", "online"), ("bulk (neo4j-admin import)", "bulk")):
        r = result[key]
        print(f"{name:<28}{r['seconds']:>10.1f}{r['nodes_per_s']:>12,}"
              f"{r['relationships_per_s']:>12,}")
    nv = result["naive_one_tx_per_edge"]
    print(f"{'naive (1 tx per edge)':<28}{nv['seconds']:>10.1f}{'-':>12}"
          f"{nv['relationships_per_s']:>12,}")
    for k, v in result["ratios"].items():
        print(f"{k}: {v}")
    print(f"same counts online and bulk: {result['same_counts_online_and_bulk']}")
    print(f"wrote {RESULTS}")
    return 0 if result["same_counts_online_and_bulk"] else 1


if __name__ == "__main__":
    sys.exit(main())
