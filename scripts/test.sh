#!/usr/bin/env bash
# The test suite: set up if needed, lint, then pytest (which starts its own
# throwaway Neo4j unless MEDGEN_TEST_NEO4J_URI names one). Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
