"""Writes the engine's golden logits (tests/data/engine/goldens.json) with the numpy reference.

    scripts/reference-venv.sh
    build/reference-venv/bin/python tests/reference/make_goldens.py build/gateway/airlock

For each case, `airlock model synth` writes the model (synthetic models are deterministic: the
same preset, seed, dtype and layout give the same bytes), nemotron_h.py computes the logits of
a 40-token prompt from a fresh state (3 SSD chunks of 16 with the tiny preset), and the rows at
the chunk edges are kept. tests/unit/engine/model_test.cc synthesizes the same models and holds
the engine's forward pass to these rows.
"""
import json
import os
import subprocess
import sys
import tempfile

import nemotron_h

CASES = [
    {"name": "tiny-bf16", "seed": 0, "args": []},
    {"name": "tiny-f16-fused-experts", "seed": 5, "args": ["--dtype", "f16", "--fused-experts"]},
]
IDS = [(i * 37 + 11) % 512 for i in range(40)]
ROWS = [0, 15, 16, 31, 32, 39]


def main():
    airlock = sys.argv[1]
    out_path = os.path.join(os.path.dirname(__file__), "..", "data", "engine", "goldens.json")
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            model = os.path.join(tmp, case["name"])
            subprocess.run([airlock, "model", "synth", model, "--seed", str(case["seed"])] +
                           case["args"], check=True, stdout=subprocess.DEVNULL)
            logits = nemotron_h.forward(model, IDS)
            cases.append({**case, "ids": IDS, "rows": ROWS,
                          "logits": [[float(f"{v:.7g}") for v in logits[r]] for r in ROWS]})
    with open(out_path, "w") as f:
        json.dump({"generator": "tests/reference/make_goldens.py (numpy, float64)",
                   "preset": "tiny", "cases": cases}, f)
        f.write("\n")
    print(f"wrote {os.path.normpath(out_path)}")


if __name__ == "__main__":
    main()
