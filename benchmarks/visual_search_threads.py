"""Visual search with one torch thread against two, same displays, same process, interleaved.

Decides how the visual_search rule uses a 2-core machine: if one thread is more than half as fast as two,
two single-thread jobs side by side finish the twelve (model × experiment) jobs sooner than one two-thread
job after another. Also checks that the fixations do not depend on the thread count.

    .venv/bin/python benchmarks/visual_search_threads.py --weights results/demo/models/demo_cnn/model.pt
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from cortexplorer.models.cnn import load_network
from cortexplorer.visual_search.settings import SearchSettings, StimuliSettings
from cortexplorer.visual_search.stage import generate_stimuli, run_search
from cortexplorer.visual_search.stimuli import read_stimulus_set

NETWORK, NETWORK_SPEC = "democnn", {"kind": "demo_cnn"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="the demo CNN (results/demo/models/demo_cnn/model.pt)")
    parser.add_argument("--experiment", default="orientation_hetero")
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--trials", type=int, default=2, help="trials per set size and target")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cnn = load_network(NETWORK, NETWORK_SPEC, demo_weights=args.weights, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        stim = Path(tmp) / "stimuli"
        generate_stimuli({}, {"stimuli": stim}, StimuliSettings(experiment=args.experiment, scale=args.scale,
                                                                trials_per_set_size=args.trials, seed=0))
        trials = read_stimulus_set(stim).trials
        outputs = {"fixations": Path(tmp) / "f.tsv", "scanpaths": Path(tmp) / "s.png"}
        times: dict[tuple[str, int], list[float]] = {}
        tables = {}
        for rep in range(args.repeats):
            for model in ("eccnet", "ivsn"):
                for threads in (1, 2):
                    # the search settings the benchmark always used (run_search's former defaults)
                    settings = SearchSettings(model=model, network=NETWORK, network_spec=NETWORK_SPEC, batch_size=8,
                                              recognition_px=1, device="cpu", seed=0)
                    torch.set_num_threads(threads)
                    start = time.perf_counter()
                    tables[model, threads] = run_search(stim, cnn, settings, outputs)
                    times.setdefault((model, threads), []).append(time.perf_counter() - start)
                    print(f"repeat {rep + 1}: {model} with {threads} thread(s): {times[model, threads][-1]:.1f} s")
    rows = []
    for model in ("eccnet", "ivsn"):
        t1, t2 = min(times[model, 1]), min(times[model, 2])
        same = tables[model, 1][["n_fix", "fixations"]].equals(tables[model, 2][["n_fix", "fixations"]])
        rows.append({"model": model, "trials": len(trials), "one_thread_s": round(t1, 2), "two_threads_s": round(t2, 2),
                     "speed-up of 2 threads": round(t1 / t2, 2), "same fixations": same})
    print(pd.DataFrame(rows).to_string(index=False))
    print("two single-thread jobs side by side beat one two-thread job after another when the speed-up is < 2")


if __name__ == "__main__":
    main()
