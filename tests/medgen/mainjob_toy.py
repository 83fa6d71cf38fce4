"""A tiny main-job profile (tests only): the phenotype toy graph plus two approved drugs as
a graph folder, and budgets of seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.kg import phenotype_toy as toy
from tests.molgen.drugs import DRUGS as CORPUS

DRUGS = {"CHEMBL25": ("ASPIRIN", "CC(=O)Oc1ccccc1C(=O)O"),
         "CHEMBL521": ("IBUPROFEN", "CC(C)Cc1ccc(C(C)C(=O)O)cc1")}


def write_graph(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [pd.DataFrame({"id": list(toy.TERM_NAMES), "label": "Phenotype",
                           "name": list(toy.TERM_NAMES.values())}),
             pd.DataFrame({"id": toy.DISEASES, "label": "Disease",
                           "name": [f"Syndrome {i + 1}" for i in range(len(toy.DISEASES))]}),
             pd.DataFrame({"id": toy.GENES, "label": "Gene",
                           "symbol": [f"G{i + 1}" for i in range(len(toy.GENES))]}),
             pd.DataFrame({"id": list(DRUGS), "label": "Compound",
                           "name": [n for n, _ in DRUGS.values()],
                           "smiles": [s for _, s in DRUGS.values()]})]
    pd.concat(nodes, ignore_index=True).to_csv(folder / "nodes.csv", index=False)
    edges = [pd.DataFrame(pairs, columns=["start", "end"]).assign(type=rel)
             for (_, rel, _), pairs in toy.edges().items()]
    pd.concat(edges, ignore_index=True).to_csv(folder / "edges.csv", index=False)
    return folder


def write_config(folder: Path, *, imaging: bool = False) -> Path:
    graph = write_graph(folder / "graph")
    corpus = folder / "corpus.smi"
    corpus.write_text("".join(f"{s}\n" for s in CORPUS))
    config = {
        "graph": str(graph),
        "completion": {"model": {"dim": 8, "loss": "ce", "lr": 0.05, "batch_size": 512},
                       "train": {"max_epochs": 4, "accelerator": "cpu"}, "top_k": 3},
        "explain_top": 3,
        # a dozen drugs learnt by heart: analogues of the two seeds are valid molecules
        "vae": {"corpus": f"file:{corpus}", "size": "tiny", "epochs": 80, "lr": 0.01,
                "max_time_s": 30, "mixture": 2, "seed": 0},
        "analogue_seeds": ["ASPIRIN", "IBUPROFEN"],
        "analogues_per_seed": 8,
        "min_tanimoto": 0.0,
        "imaging": ({"resolution": 28, "max_epochs": 1, "max_time_s": 10, "channels": 8,
                     "monitor_samples": 16, "batch_size": 16} if imaging else None),
        "quality": "test quality: seconds of training",
    }
    path = folder / "profile.json"
    path.write_text(json.dumps(config))
    return path
