"""All Cypher of the ``kg`` package.

Values always travel as parameters. Labels and relationship types cannot, so
the builders below take them only after :class:`kg.schema.Schema` has
whitelisted them, and quote them with backticks as a second guard.
"""

from __future__ import annotations

from kg.errors import SchemaError
from kg.schema import KEY, Schema, is_identifier


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


# Bulk reads return one record of lists: decoding one list of 270k strings is about
# 13x faster than 270k records (measured on the HPO graph's largest pattern)

def node_ids(schema: Schema, label: str) -> str:
    """Every id of ``label``, sorted, as one list ``ids``."""
    label = schema.label(label)
    return f"MATCH (n:{_q(label)}) WITH n.{KEY} AS id ORDER BY id RETURN collect(id) AS ids"


def node_names(schema: Schema, label: str) -> str:
    """Display names of the nodes keyed ``$ids`` (``name``, else ``symbol`` for genes)."""
    label = schema.label(label)
    return (f"UNWIND $ids AS id MATCH (n:{_q(label)} {{{KEY}: id}}) "
            f"RETURN n.{KEY} AS id, coalesce(n.name, n.symbol) AS name")


def edge_pairs(schema: Schema, rel_type: str, start_label: str, end_label: str) -> str:
    rel_type, start_label, end_label = (
        schema.rel_type(rel_type), schema.label(start_label), schema.label(end_label)
    )
    return (
        f"MATCH (a:{_q(start_label)})-[:{_q(rel_type)}]->(b:{_q(end_label)}) "
        f"RETURN collect(a.{KEY}) AS starts, collect(b.{KEY}) AS ends"
    )


# relationships first: DETACH DELETE of a hub node (a phenotype with thousands of
# annotations) in one batch can exceed the server's transaction memory limit
DELETE_ALL_RELATIONSHIPS = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS"
)
DELETE_ALL_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS"
SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties RETURN *"


# predictions, embeddings, explanations (issue: GNN completion) --------------------------
def predicted_type(schema: Schema, rel_type: str) -> str:
    """``PREDICTED_<TYPE>`` for a whitelisted type, registered in the schema."""
    return schema.add_rel_type(f"PREDICTED_{schema.rel_type(rel_type)}")


def merge_predictions(schema: Schema, rel_type: str, start_label: str, end_label: str) -> str:
    """Predicted links, one per (pair, run_id); pairs already observed are skipped."""
    observed = schema.rel_type(rel_type)
    predicted = predicted_type(schema, rel_type)
    start_label, end_label = schema.label(start_label), schema.label(end_label)
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:{_q(start_label)} {{{KEY}: row.start}}) "
        f"MATCH (b:{_q(end_label)} {{{KEY}: row.end}}) "
        f"WITH a, b, row WHERE NOT (a)-[:{_q(observed)}]->(b) "
        f"MERGE (a)-[p:{_q(predicted)} {{run_id: $run_id}}]->(b) "
        "SET p.score = row.score, p.rank = row.rank, p.model = $model, "
        "p.created_at = $created_at RETURN count(p) AS written"
    )


def delete_other_runs(schema: Schema, rel_type: str) -> str:
    predicted = predicted_type(schema, rel_type)
    return (
        f"MATCH ()-[p:{_q(predicted)}]->() WHERE p.run_id <> $run_id "
        "CALL (p) { DELETE p } IN TRANSACTIONS OF 20000 ROWS"
    )


def top_predictions(schema: Schema, rel_type: str) -> str:
    """A run's best-scored ``PREDICTED_<TYPE>`` links, best first."""
    predicted = predicted_type(schema, rel_type)
    return (
        f"MATCH (a)-[p:{_q(predicted)} {{run_id: $run_id}}]->(b) "
        "RETURN a.id AS head, b.id AS tail, p.score AS score, p.rank AS rank, "
        "elementId(p) AS link "
        "ORDER BY p.score DESC, head, tail LIMIT $limit"
    )


# The paths that explain predicted links, stored on the links themselves (found by the
# element ids top_predictions returned: a seek, not a scan).
SET_EXPLANATIONS = (
    "UNWIND $rows AS row MATCH ()-[p]->() WHERE elementId(p) = row.link "
    "SET p.explanation = row.paths, p.explanation_costs = row.costs "
    "RETURN count(p) AS written"
)


# Everything a run wrote, by its run_id: its predicted links (any PREDICTED_ type) and its
# Candidate nodes with their links. Used when a run is removed or replaced.
DELETE_RUN_PREDICTIONS = (
    "MATCH ()-[p]->() WHERE type(p) STARTS WITH 'PREDICTED_' AND p.run_id = $run_id "
    "CALL (p) { DELETE p } IN TRANSACTIONS OF 20000 ROWS"
)
DELETE_RUN_EMBEDDINGS = (
    "MATCH (n) WHERE n.embedding_run_id = $run_id "
    "CALL (n) { REMOVE n.embedding, n.embedding_run_id } IN TRANSACTIONS OF 5000 ROWS"
)
DELETE_RUN_CANDIDATES = (
    "MATCH (c:Candidate) WHERE c.run_id = $run_id "
    "CALL (c) { DETACH DELETE c } IN TRANSACTIONS OF 5000 ROWS"
)


def _prop(name: str) -> str:
    if not is_identifier(name):
        raise SchemaError(f"bad property name {name!r}")
    return name


def vector_index(schema: Schema, label: str, prop: str, dims: int) -> str:
    label, prop = schema.label(label), _prop(prop)
    if not 0 < int(dims) <= 4096:  # Neo4j 5.26's vector index limit
        raise SchemaError(f"vector dimensions must be 1..4096, got {dims}")
    return (
        f"CREATE VECTOR INDEX {label.lower()}_{prop} IF NOT EXISTS FOR (n:{_q(label)}) "
        f"ON n.{prop} OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dims)}, "
        "`vector.similarity_function`: 'cosine'}}"
    )


# the dimensions of an existing vector index (None: no such index)
VECTOR_INDEX_DIMS = (
    "SHOW VECTOR INDEXES YIELD name, options WHERE name = $name "
    "RETURN options.indexConfig.`vector.dimensions` AS dims"
)


def drop_vector_index(schema: Schema, label: str, prop: str) -> str:
    label, prop = schema.label(label), _prop(prop)
    return f"DROP INDEX {label.lower()}_{prop} IF EXISTS"


def set_vectors(schema: Schema, label: str, prop: str) -> str:
    label, prop = schema.label(label), _prop(prop)
    return (
        f"UNWIND $rows AS row MATCH (n:{_q(label)} {{{KEY}: row.id}}) "
        f"CALL db.create.setNodeVectorProperty(n, '{prop}', row.vector) "
        f"SET n.{prop}_run_id = $run_id RETURN count(n) AS written"
    )


def similar(schema: Schema, label: str, prop: str) -> str:
    label, prop = schema.label(label), _prop(prop)
    return (
        f"MATCH (n:{_q(label)} {{{KEY}: $id}}) WHERE n.{prop} IS NOT NULL "
        "CALL db.index.vector.queryNodes($index, $k + 1, n." + prop + ") YIELD node, score "
        f"WHERE node <> n RETURN node.{KEY} AS id, coalesce(node.name, node.symbol) AS name, "
        "score ORDER BY score DESC LIMIT $k"
    )


def find_labels(schema: Schema, labels: list[str]) -> str:
    """Which labels carry a node with key ``$id``: one index lookup per label."""
    parts = [f"MATCH (n:{_q(schema.label(lab))} {{{KEY}: $id}}) RETURN '{lab}' AS label"
             for lab in labels]
    return " UNION ALL ".join(parts)


def explain_paths(schema: Schema, head_label: str, tail_label: str, rel_type: str) -> str:
    """The shortest paths (at most 3 hops) joining head and tail, hubs last.

    Predictions and the very link being explained are not evidence. A path
    through a node of high degree says little, so paths are ranked by the sum
    of log-degrees of their inner nodes.
    """
    head_label, tail_label = schema.label(head_label), schema.label(tail_label)
    rel_type = schema.rel_type(rel_type)
    return (
        f"MATCH (h:{_q(head_label)} {{{KEY}: $head}}) MATCH (t:{_q(tail_label)} {{{KEY}: $tail}}) "
        "MATCH p = allShortestPaths((h)-[*..3]-(t)) "
        "WHERE none(r IN relationships(p) WHERE type(r) STARTS WITH 'PREDICTED_' "
        f"OR (type(r) = '{rel_type}' AND startNode(r) = h AND endNode(r) = t)) "
        "WITH p, [n IN nodes(p)[1..-1] | COUNT { (n)--() }] AS degrees "
        "RETURN p, degrees, reduce(s = 0.0, d IN degrees | s + log(d + 1.0)) AS cost "
        "ORDER BY cost, length(p) LIMIT $limit"
    )
