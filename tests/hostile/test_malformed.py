"""Malformed input at every command that reads a file or a string: each case is refused
with one clear line naming the file and line (or the value), a non-zero exit, no
traceback, and the graph exactly as it was (the baseline, compared property by property).
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from kg.sources.hpo import default_data_dir
from tests.hostile.conftest import assert_refused

GOOD_TRIPLES = "aspirin\ttreats\theadache\n"
LONG_LINE = 100 * 1024 * 1024  # one line of 100 MB


def _bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def big_line(path: Path) -> None:
    with open(path, "wb") as fh:
        chunk = b"x" * (1 << 20)
        for _ in range(LONG_LINE // len(chunk)):
            fh.write(chunk)
        fh.write(b"\n")


# (case id, file name, content or a writer, argv with {f} for the file, fragments)
Case = tuple[str, str, "str | bytes | Callable[[Path], None]", list[str], list[str]]

TRIPLES: list[Case] = [
    ("triples-empty", "t.tsv", b"", ["kg", "load", "triples", "{f}"], ["t.tsv:1", "empty"]),
    ("triples-nul", "t.tsv", GOOD_TRIPLES + "a\x00b\tr\tc\n", ["kg", "load", "triples", "{f}"],
     ["t.tsv:2", "NUL"]),
    ("triples-truncated-last-line", "t.tsv", GOOD_TRIPLES + "aspirin\ttreats",
     ["kg", "load", "triples", "{f}"], ["t.tsv:2", "truncated"]),
    ("triples-four-fields", "t.tsv", GOOD_TRIPLES * 2 + "a\tb\tc\td\n",
     ["kg", "load", "triples", "{f}"], ["t.tsv:3", "expected 3 fields"]),
    ("triples-latin1", "t.tsv", GOOD_TRIPLES.encode() + "caf\xe9\tr\tx\n".encode("latin-1"),
     ["kg", "load", "triples", "{f}"], ["t.tsv:2", "UTF-8"]),
    ("triples-utf16-no-bom", "t.tsv", GOOD_TRIPLES.encode("utf-16-le"),
     ["kg", "load", "triples", "{f}"], ["t.tsv:1"]),
    ("triples-utf32-bom", "t.tsv", GOOD_TRIPLES.encode("utf-32"),
     ["kg", "load", "triples", "{f}"], ["t.tsv:1"]),
    ("triples-empty-head", "t.tsv", GOOD_TRIPLES + "\ttreats\tx\n",
     ["kg", "load", "triples", "{f}"], ["t.tsv:2", "empty required field"]),
    ("triples-relation-not-a-type", "t.tsv", GOOD_TRIPLES + "a\t!!!\tb\n",
     ["kg", "load", "triples", "{f}"], ["t.tsv:2", "'!!!'"]),
    ("triples-broken-gzip", "t.tsv.gz", b"\x1f\x8b\x08\x00garbage-not-deflate",
     ["kg", "load", "triples", "{f}"], ["t.tsv.gz", "gzip"]),
    ("triples-truncated-gzip", "t.tsv.gz",
     gzip.compress("".join(f"h{i}\tr\tt{i * 7919}\n" for i in range(5000)).encode())[:4000],
     ["kg", "load", "triples", "{f}"], ["t.tsv.gz", "gzip"]),
    ("triples-100MB-line", "t.tsv", big_line, ["kg", "load", "triples", "{f}"],
     ["t.tsv:1"]),
    ("triples-only-blank-lines", "t.tsv", "\n\n\n", ["kg", "load", "triples", "{f}"],
     ["t.tsv"]),
]

CSV_NODES = ["kg", "load", "csv", "--nodes", "{f}", "--label", "Entity"]
CSV: list[Case] = [
    ("csv-empty", "n.csv", b"", CSV_NODES, ["n.csv:1", "empty"]),
    ("csv-unbalanced-quote", "n.csv", 'id,name\nx1,"never closed\nx2,b\n', CSV_NODES,
     ["n.csv:2", "quot"]),
    ("csv-no-id-column", "n.csv", "name,other\nA,1\n", CSV_NODES, ["n.csv:1", "missing"]),
    ("csv-duplicate-columns", "n.csv", "id,name,name\nx,a,b\n", CSV_NODES,
     ["n.csv:1", "duplicate column"]),
    ("csv-too-many-fields", "n.csv", "id,name\nx,a\ny,b,c\n", CSV_NODES,
     ["n.csv:3", "expected 2 fields"]),
    ("csv-nul", "n.csv", "id,name\nx,a\x00b\n", CSV_NODES, ["n.csv:2", "NUL"]),
    ("csv-latin1", "n.csv", "id,name\nx,".encode() + "\xe9".encode("latin-1") + b"\n",
     CSV_NODES, ["n.csv:2", "UTF-8"]),
    ("csv-empty-id", "n.csv", "id,name\n,a\n", CSV_NODES, ["n.csv:2", "'id'"]),
    ("csv-truncated", "n.csv", "id,name\nx,a\ny", CSV_NODES, ["n.csv:3", "truncated"]),
    ("csv-label-column-hostile", "n.csv", "id,kind\nx,Gene\ny,Gene\nz,Gene`) DETACH DELETE n\n",
     ["kg", "load", "csv", "--nodes", "{f}", "--node-col", "id=id", "--node-col",
      "label=kind"], ["n.csv:4", "not allowed"]),
    ("csv-label-trailing-newline", "n.csv", 'id,kind\nx,"Gene\n"\n',
     ["kg", "load", "csv", "--nodes", "{f}", "--node-col", "id=id", "--node-col",
      "label=kind"], ["n.csv:2", "not allowed"]),
    ("csv-edges-hostile-type", "e.csv", "s,e,t\na,b,TREATS\na,c,X]->() DELETE n\n",
     ["kg", "load", "csv", "--edges", "{f}", "--edge-col", "start=s", "--edge-col", "end=e",
      "--edge-col", "type=t", "--edge-col", "start_label=t", "--edge-col", "end_label=t",
      "--label", "Entity"],
     ["e.csv:3", "not allowed"]),
    ("csv-semicolon-file-read-as-comma", "n.csv", "id;name\nx;a\ny;b;c\n",
     ["kg", "load", "csv", "--nodes", "{f}", "--label", "Entity"], ["n.csv"]),
]

HETIONET: list[Case] = [
    ("hetionet-wrong-header", "nodes.tsv", "identifier\tname\tkind\nx\ty\tGene\n",
     ["kg", "load", "hetionet", "{f}"], ["nodes.tsv:1", "header"]),
    ("hetionet-unknown-kind", "nodes.tsv", "id\tname\tkind\nGene::1\tA\tGene\nX::2\tB\tPlanet\n",
     ["kg", "load", "hetionet", "{f}"], ["nodes.tsv:3", "Planet"]),
    ("hetionet-missing-field", "nodes.tsv", "id\tname\tkind\nGene::1\tA\n",
     ["kg", "load", "hetionet", "{f}"], ["nodes.tsv:2"]),
    ("hetionet-nul", "nodes.tsv", "id\tname\tkind\nGene::1\tA\x00\tGene\n",
     ["kg", "load", "hetionet", "{f}"], ["nodes.tsv:2", "NUL"]),
]


def hpo_dir(tmp_path: Path, **replace: str | bytes) -> Path:
    """A copy of the shipped HPO release with some files replaced (or removed with "")."""
    folder = tmp_path / "hpo"
    folder.mkdir()
    src = default_data_dir()
    for name in ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt"):
        if name in replace:
            if replace[name] != "":
                (folder / name).write_bytes(_bytes(replace[name]))
        else:
            os.symlink(src / name, folder / name)
    return folder


OBO_HEAD = "format-version: 1.2\ndata-version: hp/releases/2025-01-16\n\n"
HPO: list[tuple[str, dict, list[str]]] = [
    ("hpo-obo-empty", {"hp.obo": b""}, ["hp.obo:1", "empty"]),
    ("hpo-obo-term-without-name", {"hp.obo": OBO_HEAD + "[Term]\nid: HP:0000001\n"},
     ["hp.obo:4", "no name"]),
    ("hpo-obo-bad-id", {"hp.obo": OBO_HEAD + "[Term]\nid: HPO:1\nname: x\n"},
     ["hp.obo:5", "HPO:1"]),
    ("hpo-obo-no-header", {"hp.obo": "[Term]\nid: HP:0000001\nname: All\n"},
     ["hp.obo", "format-version"]),
    ("hpo-obo-nul", {"hp.obo": OBO_HEAD + "[Term]\nid: HP:0000001\nname: A\x00ll\n"},
     ["hp.obo:6", "NUL"]),
    ("hpo-obo-unclosed-quote", {"hp.obo": OBO_HEAD + '[Term]\nid: HP:0000001\nname: All\n'
                                'def: "never closed\n'}, ["hp.obo:7"]),
    ("hpo-hpoa-missing-columns", {"phenotype.hpoa": "#c\ndatabase_id\tdisease_name\nX:1\ty\n"},
     ["phenotype.hpoa:2", "column"]),
    ("hpo-hpoa-bad-qualifier", {"phenotype.hpoa": (
        "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency"
        "\tsex\tmodifier\taspect\tbiocuration\n"
        "OMIM:1\tD\tMAYBE\tHP:0000001\tPMID:1\tTAS\t\t\t\t\tP\tx\n")},
     ["phenotype.hpoa:2", "qualifier"]),
    ("hpo-g2p-bad-gene", {"genes_to_phenotype.txt": (
        "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id\n"
        "ten\tNAT2\tHP:0000007\tx\t-\tOMIM:243400\n")},
     ["genes_to_phenotype.txt:2", "'ten'"]),
    ("hpo-g2p-missing", {"genes_to_phenotype.txt": ""}, ["genes_to_phenotype.txt"]),
]


def _write_case(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if callable(content):
        content(path)
    else:
        path.write_bytes(_bytes(content))
    return path


@pytest.mark.neo4j
@pytest.mark.parametrize(("name", "content", "argv", "fragments"),
                         [c[1:] for c in TRIPLES + CSV + HETIONET],
                         ids=[c[0] for c in TRIPLES + CSV + HETIONET])
def test_malformed_graph_files(hostile, tmp_path, name, content, argv, fragments):
    run, snap = hostile
    before = snap()
    path = _write_case(tmp_path, name, content)
    result = run(*[a.format(f=path) for a in argv])
    assert_refused(result, *fragments)
    assert snap() == before
    if path.stat().st_size > 1 << 20:
        path.unlink()  # the 100 MB line


@pytest.mark.neo4j
@pytest.mark.parametrize(("replace", "fragments"), [c[1:] for c in HPO], ids=[c[0] for c in HPO])
def test_malformed_hpo_release(hostile, tmp_path, replace, fragments):
    run, snap = hostile
    before = snap()
    result = run("kg", "load", "hpo", "--data-dir", str(hpo_dir(tmp_path, **replace)))
    assert_refused(result, *fragments)
    assert snap() == before


# ---- strings: cypher parameters and queries --------------------------------------------

@pytest.mark.neo4j
@pytest.mark.parametrize(("argv", "fragments", "code"), [
    (["cypher", "RETURN $x AS x", "--param", "no-equals-sign"], ["NAME=VALUE"], 2),
    (["cypher", "MATCH (n) RETURN n LIMIT"], ["Neo4j", "SyntaxError"], 1),
    (["cypher", "CREATE (:Entity {id: 'new'})"], ["--write", "nothing was changed"], 1),
    (["cypher", "MATCH (n) DETACH DELETE n"], ["--write"], 1),
    (["cypher", "CALL dbms.security.createUser('x', 'y', false)"], ["Neo4j"], 1),
    (["cypher", "\x00"], ["Neo4j"], 1),
], ids=["param-no-equals", "syntax-error", "write-without-flag", "delete-without-flag",
        "admin-procedure", "nul-query"])
def test_hostile_cypher_strings(hostile, argv, fragments, code):
    run, snap = hostile
    before = snap()
    assert_refused(run(*argv), *fragments, code=code)
    assert snap() == before


# ---- kg train --config ---------------------------------------------------------------

CONFIGS: list[tuple[str, str, str | bytes, list[str]]] = [
    ("config-unknown-key", "job.json", json.dumps({"modle": {}}), ["job.json", "modle"]),
    ("config-wrong-type", "job.json", json.dumps({"model": {"dim": "big"}}), ["job.json", "dim"]),
    ("config-nan", "job.json", '{"model": {"lr": NaN}}', ["job.json", "lr"]),
    ("config-infinity", "job.json", '{"model": {"lr": Infinity}}', ["job.json", "lr"]),
    ("config-not-json", "job.json", '{"model": ', ["job.json"]),
    ("config-empty", "job.json", b"", ["job.json"]),
    ("config-list", "job.json", "[1, 2]", ["job.json", "mapping"]),
    ("config-yaml-broken", "job.yaml", "model: [unclosed\n", ["job.yaml"]),
    ("config-binary", "job.json", b"\x00\x01\x02\xff", ["job.json"]),
    ("config-negative-epochs", "job.json", json.dumps({"train": {"max_epochs": -3}}),
     ["job.json", "max_epochs"]),
]


@pytest.mark.neo4j
@pytest.mark.parametrize(("name", "content", "fragments"), [c[1:] for c in CONFIGS],
                         ids=[c[0] for c in CONFIGS])
def test_malformed_train_configs(hostile, tmp_path, name, content, fragments):
    run, snap = hostile
    before = snap()
    path = _write_case(tmp_path, name, content)
    assert_refused(run("kg", "train", "--config", str(path)), *fragments)
    assert snap() == before


# ---- molecules: files of SMILES, SDF, and model files ---------------------------------

SDF_BROKEN = "aspirin\n  RDKit\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0 0.0\n$$$$\n"
MOLS: list[tuple[str, str, str | bytes | Callable, list[str], list[str]]] = [
    ("mol-train-empty", "m.smi", b"", ["mol", "train", "--smiles", "{f}", "--out", "{d}"],
     ["m.smi"]),
    ("mol-train-nul", "m.smi", "CCO\nC\x00C\n", ["mol", "train", "--smiles", "{f}", "--out",
                                                  "{d}"], ["m.smi:2"]),
    ("mol-train-strict-invalid", "m.smi", "CCO\nC1CC\n", ["mol", "train", "--smiles", "{f}",
                                                          "--strict", "--out", "{d}"],
     ["m.smi:2"]),
    ("mol-train-100k-smiles", "m.smi", "CCO\n" + "C" * 100_000 + "\n",
     ["mol", "train", "--smiles", "{f}", "--strict", "--out", "{d}"], ["m.smi:2"]),
    ("mol-train-broken-sdf", "m.sdf", SDF_BROKEN, ["mol", "train", "--smiles", "{f}",
                                                   "--strict", "--out", "{d}"], ["m.sdf"]),
    ("mol-train-csv-no-smiles-column", "m.csv", "name,weight\na,1\n",
     ["mol", "train", "--smiles", "{f}", "--out", "{d}"], ["m.csv", "smiles"]),
    ("mol-train-latin1", "m.smi", "CCO\n".encode() + "CC caf\xe9\n".encode("latin-1"),
     ["mol", "train", "--smiles", "{f}", "--out", "{d}"], ["m.smi:2"]),
    ("mol-evaluate-empty", "e.smi", b"", ["mol", "evaluate", "{f}", "--no-fcd"], ["e.smi"]),
    ("mol-evaluate-binary", "e.smi", b"\x89PNG\r\n\x1a\n\x00\x00", ["mol", "evaluate", "{f}",
                                                                   "--no-fcd"], ["e.smi"]),
    ("mol-evaluate-strict-nan", "e.csv", "smiles,score\nCCO,1\nNaN,inf\n",
     ["mol", "evaluate", "{f}", "--no-fcd", "--strict"], ["e.csv:3"]),
    ("mol-link-empty", "c.csv", b"", ["mol", "link", "--candidates", "{f}"], ["c.csv"]),
    ("mol-link-unbalanced-quote", "c.csv", 'smiles,run_id\n"CCO,r1\nCCN,r1\n',
     ["mol", "link", "--candidates", "{f}"], ["c.csv"]),
]


@pytest.mark.neo4j
@pytest.mark.parametrize(("name", "content", "argv", "fragments"), [c[1:] for c in MOLS],
                         ids=[c[0] for c in MOLS])
def test_malformed_molecule_files(hostile, tmp_path, name, content, argv, fragments):
    run, snap = hostile
    before = snap()
    path = _write_case(tmp_path, name, content)
    out = tmp_path / "out"
    assert_refused(run(*[a.format(f=path, d=out) for a in argv]), *fragments)
    assert snap() == before


class _RunsCode:
    """Unpickling this would call os.system: a file that must never be loaded unsafely."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/medgen-hostile-pwned",))


def _checkpoint_cases(tmp_path: Path) -> dict[str, Path]:
    files = {}
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": _RunsCode(), "hyper_parameters": {}}, evil)
    files["malicious-pickle-in-zip"] = evil
    raw = tmp_path / "evil-raw.ckpt"
    raw.write_bytes(pickle.dumps(_RunsCode()))
    files["malicious-raw-pickle"] = raw
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"config": {
        "model": {"encoder": "rgcn"}}}}, other)
    files["another-model-kind"] = other
    truncated = tmp_path / "trunc.ckpt"
    truncated.write_bytes(evil.read_bytes()[:100])
    files["truncated"] = truncated
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    files["empty"] = empty
    noise = tmp_path / "noise.ckpt"
    noise.write_bytes(os.urandom(4096))
    files["random-bytes"] = noise
    return files


CHECKPOINTS = ["malicious-pickle-in-zip", "malicious-raw-pickle", "another-model-kind",
               "truncated", "empty", "random-bytes"]


@pytest.mark.neo4j
@pytest.mark.parametrize("case", CHECKPOINTS)
def test_bad_model_files_for_mol_generate(hostile, tmp_path, case):
    run, snap = hostile
    before = snap()
    marker = Path("/tmp/medgen-hostile-pwned")
    marker.unlink(missing_ok=True)
    path = _checkpoint_cases(tmp_path)[case]
    result = run("mol", "generate", "--model", str(path), "-n", "3", "--out",
                 str(tmp_path / "out"))
    assert_refused(result, str(path))
    if case.startswith("malicious"):
        assert "refused" in result.err
    assert not marker.exists(), "loading the file ran its code"
    assert snap() == before


@pytest.mark.neo4j
@pytest.mark.parametrize("case", ["malicious-pickle-in-zip", "truncated", "random-bytes"])
def test_folders_that_are_not_runs_for_kg_diagnose(hostile, tmp_path, case):
    """A folder with a model file but no real job file: refused before the model is read."""
    run, snap = hostile
    before = snap()
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(_checkpoint_cases(tmp_path)[case], folder / "model.ckpt")
    (folder / "job.json").write_text(json.dumps({"run_id": "x", "status": "done"}))
    result = run("kg", "diagnose", "HP:0000001", "--run", str(folder))
    assert_refused(result, str(folder))
    assert not Path("/tmp/medgen-hostile-pwned").exists()
    assert snap() == before
