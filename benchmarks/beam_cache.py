"""Beam search with GPT-2's key/value cache against re-running the whole sequence, same model, same prefixes.

CLIPCap's ``generate_beam`` feeds GPT-2 the prefix and every token so far at each step, so a 67-token
caption costs ~67²/2 token passes per beam; with the cache each step passes one token per beam.
BrainSCUBA captions every voxel of every subject, so this decides whether captioning is minutes or
hours. Checks that both give the same tokens; the acceptance target is a speed-up of at least 5×.
No eos is ever emitted (``eos_id`` -1), so every caption runs the full ``max_length`` steps.

    .venv/bin/python benchmarks/beam_cache.py
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
import transformers

from cortexplorer.brainscuba.captioner import ClipCaptionModel, beam_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256, help="GPT-2 n_embd")
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--prefix-length", type=int, default=10)
    parser.add_argument("--prefixes", type=int, default=8, help="images captioned together (batch)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=67)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps the ratio honest on a machine shared with other jobs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # a wider initialisation than GPT-2's 0.02, so the random model is not near-uniform (no near-ties)
    config = transformers.GPT2Config(vocab_size=args.vocab, n_positions=args.prefix_length + args.max_length,
                                     n_embd=args.width, n_layer=args.layers, n_head=max(1, args.width // 64),
                                     bos_token_id=0, eos_token_id=0, initializer_range=0.2)
    model = ClipCaptionModel(args.prefix_length, 512, config).eval()
    with torch.no_grad():
        prefix = model.prefix_embeddings(torch.randn(args.prefixes, 512) * 10)
    print(f"GPT-2 {args.layers} layers × {args.width}, vocabulary {args.vocab}, prefix {args.prefix_length}; "
          f"{args.prefixes} prefixes × beam {args.beam}, {args.max_length} steps, {torch.get_num_threads()} threads")
    times: dict[bool, list[float]] = {True: [], False: []}
    tokens = {}
    for rep in range(args.repeats):
        for use_cache in (True, False):
            start = time.perf_counter()
            tokens[use_cache] = beam_search(model, prefix, eos_id=-1, beam_size=args.beam, max_length=args.max_length,
                                            use_cache=use_cache)
            times[use_cache].append(time.perf_counter() - start)
            print(f"repeat {rep + 1}: {'with' if use_cache else 'without'} cache: {times[use_cache][-1]:.2f} s")
    same = tokens[True] == tokens[False]
    lengths = sorted({len(t) for t in tokens[True]})
    with_cache, without = min(times[True]), min(times[False])
    print(pd.DataFrame([{"mode": "KV cache", "seconds": round(with_cache, 2)},
                        {"mode": "recompute (CLIPCap)", "seconds": round(without, 2)}]).to_string(index=False))
    print(f"caption lengths {lengths}; identical tokens: {same}; speed-up of the cache: {without / with_cache:.1f}× "
          f"(target ≥ 5×)")
    assert same, "beam search with and without the cache disagree"


if __name__ == "__main__":
    main()
