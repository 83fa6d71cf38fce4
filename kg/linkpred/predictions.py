"""Top-k predictions of a trained link predictor: the new links it proposes for a
relation, never over a known triple, ready for write-back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from kg.linkpred.dataset import TripleGraph
from kg.linkpred.task import LinkPredictionTask
from kg.models import Embeddings


@torch.no_grad()
def predict_links(task: LinkPredictionTask, graph: TripleGraph, emb: Embeddings,
                  relation: str, top_k: int, batch_size: int = 512
                  ) -> dict[tuple[str, str], pd.DataFrame]:
    """The ``top_k`` most probable new tails of ``relation`` for every node that can be
    its head, never a known triple: {(start label, end label): rows start/end/score/rank}.

    ``score`` is the calibrated probability; ``rank`` counts from 1 per head.
    """
    assert task.sampler is not None
    r = graph.relation_index(relation)
    heads = task.sampler.allowed(r, "head").nonzero().squeeze(1)
    tails_ok = task.sampler.allowed(r, "tail")
    known = graph.all_triples().to(emb.nodes.device)
    parts = []
    for chunk in heads.split(batch_size):
        prop = task.model.propose(emb, r, chunk.to(emb.nodes.device), top_k,
                                  allowed_tails=tails_ok, known=known)
        parts.append((prop.heads.cpu(), prop.tails.cpu(), prop.probabilities.cpu(),
                      prop.scores.cpu()))
    if not parts:
        return {}
    h, t, p, s = (torch.cat(x) for x in zip(*parts, strict=True))
    frame = pd.DataFrame({"h": h.numpy(), "t": t.numpy(), "score": p.double().numpy(),
                          "raw": s.double().numpy()})
    # proposals arrive best first per head; rank by the raw score, which never saturates
    frame = frame.sort_values(["h", "raw"], ascending=[True, False], kind="stable")
    frame["rank"] = frame.groupby("h").cumcount() + 1
    ids = np.asarray(graph.node_ids, dtype=object)
    types = np.asarray(graph.node_types, dtype=object)[graph.node_type.numpy()]
    frame["start"], frame["end"] = ids[frame["h"]], ids[frame["t"]]
    frame["start_label"], frame["end_label"] = types[frame["h"]], types[frame["t"]]
    return {(a, b): g[["start", "end", "score", "rank"]].reset_index(drop=True)
            for (a, b), g in frame.groupby(["start_label", "end_label"], sort=True)}
