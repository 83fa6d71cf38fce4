#!/usr/bin/env bash
# Train the MOSES benchmark's VAE on a GPU machine lent for minutes, score it here.
#
#   bash scripts/device_moses.sh prepare        # here: wheels + MOSES train into .device/
#   bash scripts/device_moses.sh train [BUDGET_S] [molgen_moses.py options]
#                                               # there: train for BUDGET_S (default 400),
#                                               # weights split into $OUT
#   bash scripts/device_moses.sh join DIR       # here: the parts in DIR -> runs/molgen_moses/
#                                               # vae-gpu/, and the command that scores it
#
# Why three steps: the lent machine (tools of this workplace: `run` with carry .device) has
# PyTorch and Lightning but no RDKit or SELFIES and no network, takes a working tree of at
# most 64 MiB and gives back files of at most 16 MiB. So `prepare` fetches the RDKit and
# SELFIES wheels for its Python (3.12) and packs MOSES train (gzip, ~10 MB: all of it, so
# that the seeded training sample is the one this machine draws again when it scores);
# `train` installs the wheels, trains with `molgen_moses.py --train-only --accelerator gpu`
# (the MOSES VAE's sizes at batch 512), drops the optimiser state from the checkpoint and
# splits it into 15 MiB parts; `join` puts the checkpoint back together here, where the
# metrics' data (the molsets wheel) is, and prints the command that scores it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bundle=.device
run_dir=/tmp/medgen-device-run/vae-gpu

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

prepare() {
    local python=.venv/bin/python
    [[ -x $python ]] || { echo "no .venv: run 'bash scripts/test.sh' once first" >&2; exit 1; }
    mkdir -p "$bundle/whl"
    local rdkit selfies
    rdkit=$("$python" -c 'import importlib.metadata as m; print(m.version("rdkit"))')
    selfies=$("$python" -c 'import importlib.metadata as m; print(m.version("selfies"))')
    # The same versions as here, so that both machines read molecules the same way.
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$bundle/whl" "rdkit==$rdkit" "selfies==$selfies"
    "$python" - "$bundle/moses-train.txt.gz" <<'EOF'
import gzip, sys
from molgen.moses_data import moses_smiles
with gzip.open(sys.argv[1], "wt", encoding="ascii", compresslevel=9) as out:
    out.write("\n".join(moses_smiles("train")) + "\n")
EOF
    du -sh "$bundle"
    echo "carry $bundle; on the GPU machine: bash scripts/device_moses.sh train 400"
}

train() {
    local budget=${1:-400}
    shift || true
    : "${OUT:?OUT must name the folder whose files come back}"
    [[ -f $bundle/moses-train.txt.gz ]] || { echo "no $bundle: run 'prepare' here first" >&2; exit 1; }
    local site=/tmp/medgen-site
    if ! python3 -c 'import rdkit, selfies' 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$site" "$bundle"/whl/*.whl
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    export MEDGEN_CACHE_DIR=/tmp/medgen-cache
    local decoded
    decoded=$(python3 -c 'from molgen.moses_data import moses_cache, MOSES_VERSION as v
print(moses_cache() / f"decoded-{v}")')
    mkdir -p "$decoded"
    gunzip -c "$bundle/moses-train.txt.gz" > "$decoded/train.txt"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    python3 benchmarks/molgen_moses.py --train-only --accelerator "${ACCELERATOR:-gpu}" \
        --budget-s "$budget" --run-dir "$run_dir" "$@" 2>&1 | tee "$OUT/train.log"
    python3 - "$run_dir/checkpoints/last.ckpt" "$run_dir/weights.ckpt" <<'EOF'
import sys, torch
checkpoint = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
for key in ("optimizer_states", "lr_schedulers"):  # not needed to sample; 2/3 of the bytes
    checkpoint.pop(key, None)
torch.save(checkpoint, sys.argv[2])
EOF
    split -b 15m "$run_dir/weights.ckpt" "$OUT/weights.ckpt.part-"
    cp "$run_dir/training.json" "$OUT/"
    ls -la "$OUT"
}

join() {
    local from=${1:?join needs the folder the parts came back to}
    local to=runs/molgen_moses/vae-gpu
    compgen -G "$from/weights.ckpt.part-*" > /dev/null \
        || { echo "no weights.ckpt.part-* in $from" >&2; exit 1; }
    mkdir -p "$to/checkpoints"
    cat "$from"/weights.ckpt.part-* > "$to/checkpoints/last.ckpt"
    cp "$from/training.json" "$to/"
    local size
    size=$(.venv/bin/python -c 'import json, sys
print(json.load(open(sys.argv[1]))["train_size"])' "$to/training.json")
    echo "joined into $to/checkpoints/last.ckpt; score it with:"
    echo "  .venv/bin/python benchmarks/molgen_moses.py --checkpoint $to/checkpoints/last.ckpt" \
        "--accelerator cpu --train-size $size --skip-throughput"
}

case ${1:-} in
    prepare) prepare ;;
    train) shift; train "$@" ;;
    join) shift; join "$@" ;;
    *) usage ;;
esac
