"""A write-back run as its own process, for the tests to SIGKILL half-way:

    python tests/faults/writer.py predictions RUN_ID   # 20,000 PREDICTED_ASSOCIATED_WITH
    python tests/faults/writer.py candidates RUN_ID    # Candidate nodes + ANALOG_OF links

Small batches, so a kill lands between committed transactions. Reads NEO4J_URI / _USER /
_PASSWORD like the CLI.
"""

from __future__ import annotations

import sys

import pandas as pd

from kg.store import GraphStore
from kg.writeback import write_predictions
from medgen.db import connect

GENES, DISEASES = 200, 100


def prediction_rows() -> pd.DataFrame:
    rows = [(f"NCBIGene:{g}", f"OMIM:{d}", 1.0 / (1 + d), d + 1)
            for g in range(GENES) for d in range(DISEASES)]
    return pd.DataFrame(rows, columns=["start", "end", "score", "rank"])


def candidate_smiles() -> list[str]:
    from kg.sources.drugs import default_path

    smiles = pd.read_parquet(default_path(), columns=["smiles"])["smiles"].dropna()
    # stand-ins for generated molecules: each drug's SMILES behind a methyl group (valid
    # molecules near the drugs, not the drugs themselves)
    return [f"C{s}" for s in smiles.head(400)]


def main(kind: str, run_id: str) -> None:
    store = GraphStore(connect(start=False))
    if kind == "predictions":
        write_predictions(store, "ASSOCIATED_WITH", "Gene", "Disease", prediction_rows(),
                          model="fault-test", run_id=run_id, batch_size=200)
    elif kind == "candidates":
        from medgen.candidates import candidate_graph, read_drugs
        from molgen.export import candidate_table

        drugs, _ = read_drugs(store)
        table = candidate_table(candidate_smiles())
        store.write(candidate_graph(table, drugs, run_id=run_id, top_k=3), batch_size=10)
    else:
        raise SystemExit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
