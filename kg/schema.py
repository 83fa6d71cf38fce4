"""The graph's schema: the only place labels and relationship types come from.

Cypher cannot take a label or relationship type as a parameter, so every
name that reaches a query string passes :meth:`Schema.label` or
:meth:`Schema.rel_type` first. The built-in medical schema is fixed; user
sources (triples, CSV) may add names, but only names that are plain
identifiers, so a hostile name can never change a query's meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kg.errors import SchemaError

KEY = "id"  # every node label is keyed by this property, under a uniqueness constraint

# used with fullmatch: with match, "$" also matches before a final newline ("Gene\n")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")

# label -> what its key means (shown by `medgen kg schema`, and documentation)
MEDICAL_LABELS: dict[str, str] = {
    "Disease": "OMIM:/ORPHA:/DECIPHER: disease id (HPO) or DOID (Hetionet)",
    "Phenotype": "HP: term id",
    "Gene": "NCBIGene: id",
    "Compound": "ChEMBL id (approved drugs) or DrugBank id (Hetionet)",
    "Candidate": "InChIKey of a generated molecule",
    "Entity": "an untyped node from a triples file",
}

# Hetionet v1.0 node kinds -> labels.
HETIONET_KINDS: dict[str, str] = {
    "Anatomy": "Anatomy",
    "Biological Process": "BiologicalProcess",
    "Cellular Component": "CellularComponent",
    "Compound": "Compound",
    "Disease": "Disease",
    "Gene": "Gene",
    "Molecular Function": "MolecularFunction",
    "Pathway": "Pathway",
    "Pharmacologic Class": "PharmacologicClass",
    "Side Effect": "SideEffect",
    "Symptom": "Symptom",
}

# relationship type -> (start label, end label); None means "any label"
MEDICAL_REL_TYPES: dict[str, tuple[str | None, str | None]] = {
    "HAS_PHENOTYPE": (None, "Phenotype"),  # Disease or Gene -> Phenotype
    "ASSOCIATED_WITH": ("Gene", "Disease"),
    "IS_A": ("Phenotype", "Phenotype"),
    "ANALOG_OF": ("Candidate", "Compound"),
}

# Hetionet metaedge abbreviation -> (relationship type, start kind, end kind).
# The type carries the abbreviation, as in Hetionet's own Neo4j export,
# because one verb (e.g. "participates") joins several pairs of kinds.
HETIONET_METAEDGES: dict[str, tuple[str, str, str]] = {
    "AdG": ("DOWNREGULATES_AdG", "Anatomy", "Gene"),
    "AeG": ("EXPRESSES_AeG", "Anatomy", "Gene"),
    "AuG": ("UPREGULATES_AuG", "Anatomy", "Gene"),
    "CbG": ("BINDS_CbG", "Compound", "Gene"),
    "CcSE": ("CAUSES_CcSE", "Compound", "Side Effect"),
    "CdG": ("DOWNREGULATES_CdG", "Compound", "Gene"),
    "CpD": ("PALLIATES_CpD", "Compound", "Disease"),
    "CrC": ("RESEMBLES_CrC", "Compound", "Compound"),
    "CtD": ("TREATS_CtD", "Compound", "Disease"),
    "CuG": ("UPREGULATES_CuG", "Compound", "Gene"),
    "DaG": ("ASSOCIATES_DaG", "Disease", "Gene"),
    "DdG": ("DOWNREGULATES_DdG", "Disease", "Gene"),
    "DlA": ("LOCALIZES_DlA", "Disease", "Anatomy"),
    "DpS": ("PRESENTS_DpS", "Disease", "Symptom"),
    "DrD": ("RESEMBLES_DrD", "Disease", "Disease"),
    "DuG": ("UPREGULATES_DuG", "Disease", "Gene"),
    "GcG": ("COVARIES_GcG", "Gene", "Gene"),
    "GiG": ("INTERACTS_GiG", "Gene", "Gene"),
    "GpBP": ("PARTICIPATES_GpBP", "Gene", "Biological Process"),
    "GpCC": ("PARTICIPATES_GpCC", "Gene", "Cellular Component"),
    "GpMF": ("PARTICIPATES_GpMF", "Gene", "Molecular Function"),
    "GpPW": ("PARTICIPATES_GpPW", "Gene", "Pathway"),
    "Gr>G": ("REGULATES_GrG", "Gene", "Gene"),
    "PCiC": ("INCLUDES_PCiC", "Pharmacologic Class", "Compound"),
}


def is_identifier(name: str) -> bool:
    return isinstance(name, str) and _IDENT.fullmatch(name) is not None


def relation_to_type(relation: str) -> str:
    """Turn a free-text relation ("may cause", "belong(s) to") into a type name.

    Runs of non-alphanumerics become one underscore; the result is upper case.
    Raises SchemaError when nothing usable is left.
    """
    name = re.sub(r"[^A-Za-z0-9]+", "_", relation).strip("_").upper()
    if name and name[0].isdigit():
        name = f"R_{name}"
    if not is_identifier(name):
        raise SchemaError(f"relation {relation!r} cannot be made into a relationship type")
    return name


@dataclass
class Schema:
    labels: set[str] = field(default_factory=set)
    rel_types: set[str] = field(default_factory=set)

    @classmethod
    def default(cls) -> Schema:
        labels = set(MEDICAL_LABELS) | set(HETIONET_KINDS.values())
        types = set(MEDICAL_REL_TYPES) | {t for t, _, _ in HETIONET_METAEDGES.values()}
        return cls(labels=labels, rel_types=types)

    def label(self, name: str) -> str:
        """Return ``name`` if it is a whitelisted label, else raise SchemaError."""
        if name not in self.labels:
            raise SchemaError(
                f"unknown node label {name!r}; known labels: {', '.join(sorted(self.labels))}"
            )
        return name

    def rel_type(self, name: str) -> str:
        if name not in self.rel_types:
            raise SchemaError(
                f"unknown relationship type {name!r}; known: {', '.join(sorted(self.rel_types))}"
            )
        return name

    def add_label(self, name: str) -> str:
        if not is_identifier(name):
            raise SchemaError(
                f"label {name!r} is not allowed: use letters, digits and _ starting with a letter"
            )
        self.labels.add(name)
        return name

    def add_rel_type(self, name: str) -> str:
        if not is_identifier(name):
            raise SchemaError(
                f"relationship type {name!r} is not allowed: use letters, digits and _ "
                "starting with a letter"
            )
        self.rel_types.add(name)
        return name

    def extend_for(self, labels: list[str], rel_types: list[str]) -> None:
        for name in labels:
            self.add_label(name)
        for name in rel_types:
            self.add_rel_type(name)
