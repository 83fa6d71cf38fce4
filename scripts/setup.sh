#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: .venv with medgen and its dev tools,
# then the Neo4j jars from Maven Central (cached outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.medgen-installed
want=$(sha1sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing medgen and its dependencies into .venv (first run takes minutes)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi
# neighbour-sampled training needs torch-sparse: install it from wheels that
# scripts/build_sampling_wheels.sh built before (building here would take far too long)
wheels=${MEDGEN_WHEELS:-$HOME/.cache/medgen/wheels}
if ls "$wheels"/torch_scatter-*.whl "$wheels"/torch_sparse-*.whl >/dev/null 2>&1 \
    && ! .venv/bin/python -c "import torch_sparse" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --no-index --find-links "$wheels" \
    torch-scatter torch-sparse \
    || echo "setup: the cached torch-sparse wheels in $wheels did not install" >&2
fi
.venv/bin/medgen neo4j install >&2
