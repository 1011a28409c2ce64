"""Writes golden logits from Hugging Face transformers' own NemotronHForCausalLM
(tests/data/engine/transformers_goldens.json): the second reference, independent of the
project's numpy one (tests/reference/nemotron_h.py) and of the engine.

    scripts/transformers-venv.sh
    build/transformers-venv/bin/python tests/reference/transformers_goldens.py build/gateway/airlock

For each case `airlock model synth` writes the tiny model (deterministic: the same preset, seed,
dtype and layout give the same bytes); transformers loads it as it loads NVIDIA's checkpoints
(`backbone.` renamed to `model.`, per-expert tensors merged), upcast to float32, and runs the
40-token prompt through its torch path in one forward call; the rows at the chunk edges are
kept. Pitfalls of that path (docs/nemotron-h-spec.md §7.4), and how they are handled:
  - the inter-chunk reduction bug (wrong with more than one chunk) is fixed in the pinned
    version (decay_chunk is transposed): the prompt spans 3 chunks of 16, and this script
    checks its rows against the numpy reference, refusing to write goldens if they disagree;
  - the dt clamp at time_step_min: synthetic dt_bias keeps softplus(dt) above 1e-3, and the
    pinned version clamps to time_step_limit (0, inf) anyway;
  - cached multi-token input and prefill with a cache are not used: one forward call.
tests/unit/engine/model_test.cc holds the engine to these rows.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from transformers import NemotronHForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
import nemotron_h  # noqa: E402  (the numpy reference, for the cross-check)
from make_goldens import CASES, IDS, ROWS  # noqa: E402  (the numpy goldens' cases)

AGREE = 1e-4  # transformers (float32) against numpy (float64), before anything is written


def main():
    airlock = sys.argv[1]
    out_path = os.path.join(os.path.dirname(__file__), "..", "data", "engine",
                            "transformers_goldens.json")
    torch.manual_seed(0)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            model_dir = os.path.join(tmp, case["name"])
            subprocess.run([airlock, "model", "synth", model_dir, "--seed", str(case["seed"])] +
                           case["args"], check=True, stdout=subprocess.DEVNULL)
            model = NemotronHForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            model.eval()
            with torch.no_grad():
                out = model(torch.tensor([IDS]), use_cache=False)
            logits = out.logits[0].double().numpy()
            numpy_logits = nemotron_h.forward(model_dir, IDS)
            worst = max(float(np.max(np.abs(logits[r] - numpy_logits[r]))) for r in ROWS)
            print(f"{case['name']}: transformers vs numpy reference, max |diff| {worst:.3g}")
            if not worst < AGREE:
                sys.exit(f"{case['name']}: transformers and the numpy reference disagree "
                         f"({worst:.3g} >= {AGREE}); not writing goldens")
            cases.append({**case, "ids": IDS, "rows": ROWS,
                          "logits": [[float(f"{v:.7g}") for v in logits[r]] for r in ROWS]})
    with open(out_path, "w") as f:
        json.dump({"generator": "tests/reference/transformers_goldens.py (transformers "
                                f"{transformers.__version__} NemotronHForCausalLM, torch "
                                f"{torch.__version__}, float32)",
                   "preset": "tiny", "cases": cases}, f)
        f.write("\n")
    print(f"wrote {os.path.normpath(out_path)}")


if __name__ == "__main__":
    main()
