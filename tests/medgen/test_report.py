"""The report's headline rows read the benchmark files as their scripts write them."""

from medgen.report import completion_rows


def _row(dataset, system, tool, budget, mrr, grid=False):
    return {"dataset": dataset, "system": system, "tool": tool, "budget_s": budget,
            "mrr": mrr, "grid": grid, "command": "kg_completion.py --jobs 2",
            "date": "2026-12-07T18:00:00Z"}


def test_completion_rows_compare_the_best_of_each_side_at_the_largest_mark():
    budgets = {"rows": [
        _row("ddb14", "RotatE 1-N", "medgen", 240.0, 0.209),
        _row("ddb14", "RotatE 1-N", "medgen", 900.0, 0.219),
        _row("ddb14", "Path GNN", "medgen", 900.0, 0.169),
        _row("ddb14", "PyKEEN RotatE", "pykeen", 900.0, 0.205),
        _row("ddb14", "PyKEEN DistMult", "pykeen", 900.0, 0.108),
        _row("ddb14", "PyKEEN RotatE (lr 0.03)", "pykeen", 240.0, 0.5, grid=True),
        _row("umls", "ComplEx 1-N", "medgen", 240.0, 0.947),
        _row("umls", "PyKEEN ComplEx", "pykeen", 240.0, None),  # a mark with no weights
        # PyKEEN not at its best on the HPO graph (uniform negatives): no headline
        _row("hpo", "RotatE (sampled negatives)", "medgen", 900.0, 0.742),
        _row("hpo", "PyKEEN ComplEx", "pykeen", 900.0, 0.091),
    ]}
    rows = completion_rows(budgets)
    assert [r["figure"] for r in rows] == ["DDB14 test MRR (filtered), 900 CPU-s",
                                           "UMLS test MRR (filtered), 240 CPU-s"]
    assert rows[0]["ours"] == "0.219 (RotatE 1-N)"
    assert rows[0]["peer"] == "0.205 (PyKEEN RotatE)"  # the grid variant is not a headline
    assert rows[0]["source"] == ("kg_completion_budgets.json: kg_completion.py --jobs 2, "
                                 "2026-12-07T18:00:00Z")
    assert rows[1]["peer"] == "-"


def test_completion_rows_of_an_empty_file():
    assert completion_rows({}) == []
