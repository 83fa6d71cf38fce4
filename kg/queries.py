"""All Cypher of the ``kg`` package.

Values always travel as parameters. Labels and relationship types cannot, so
the builders below take them only after :class:`kg.schema.Schema` has
whitelisted them, and quote them with backticks as a second guard.
"""

from __future__ import annotations

from kg.schema import KEY, Schema


def _q(name: str) -> str:
    # names are whitelisted identifiers already; backticks are belt and braces
    return f"`{name}`"


def constraint(schema: Schema, label: str) -> str:
    label = schema.label(label)
    return (
        f"CREATE CONSTRAINT {label.lower()}_{KEY}_unique IF NOT EXISTS "
        f"FOR (n:{_q(label)}) REQUIRE n.{KEY} IS UNIQUE"
    )


def name_index(schema: Schema, label: str) -> str:
    label = schema.label(label)
    return f"CREATE INDEX {label.lower()}_name IF NOT EXISTS FOR (n:{_q(label)}) ON (n.name)"


def merge_nodes(schema: Schema, label: str) -> str:
    label = schema.label(label)
    return (
        f"UNWIND $rows AS row MERGE (n:{_q(label)} {{{KEY}: row.{KEY}}}) "
        "SET n += row.props, n += $common RETURN count(n) AS written"
    )


def merge_edges(schema: Schema, rel_type: str, start_label: str, end_label: str) -> str:
    rel_type, start_label, end_label = (
        schema.rel_type(rel_type), schema.label(start_label), schema.label(end_label)
    )
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{_q(start_label)} {{{KEY}: row.start}}) "
        f"MATCH (b:{_q(end_label)} {{{KEY}: row.end}}) "
        f"MERGE (a)-[r:{_q(rel_type)}]->(b) SET r += row.props, r += $common "
        "RETURN count(r) AS written"
    )


def missing_ids(schema: Schema, label: str) -> str:
    """Which of ``$ids`` have no node of ``label`` (to explain an edge batch that fell short)."""
    label = schema.label(label)
    return (
        f"UNWIND $ids AS id OPTIONAL MATCH (n:{_q(label)} {{{KEY}: id}}) "
        "WITH id, n WHERE n IS NULL RETURN collect(id)[..$limit] AS missing"
    )


NODE_COUNTS = "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS count ORDER BY label"
REL_COUNTS = "MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS count ORDER BY type"
# the (start label, type, end label) triples present, for export and for the stats table
REL_PATTERNS = (
    "MATCH (a)-[r]->(b) RETURN labels(a)[0] AS start, type(r) AS type, labels(b)[0] AS end, "
    "count(*) AS count ORDER BY type, start, end"
)


def node_ids(schema: Schema, label: str) -> str:
    label = schema.label(label)
    return f"MATCH (n:{_q(label)}) RETURN n.{KEY} AS id ORDER BY id"


def edge_pairs(schema: Schema, rel_type: str, start_label: str, end_label: str) -> str:
    rel_type, start_label, end_label = (
        schema.rel_type(rel_type), schema.label(start_label), schema.label(end_label)
    )
    return (
        f"MATCH (a:{_q(start_label)})-[:{_q(rel_type)}]->(b:{_q(end_label)}) "
        f"RETURN a.{KEY} AS start, b.{KEY} AS end"
    )


# relationships first: DETACH DELETE of a hub node (a phenotype with thousands of
# annotations) in one batch can exceed the server's transaction memory limit
DELETE_ALL_RELATIONSHIPS = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS"
)
DELETE_ALL_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS"
SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties RETURN *"
