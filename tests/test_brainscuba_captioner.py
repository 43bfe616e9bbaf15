"""BrainSCUBA's CLIPCap captioner: the tokenizer, loading CLIPCap checkpoints, beam search against brute force and
with/without the key/value cache, and the demo captioner learning a planted world."""

from __future__ import annotations

import itertools
import logging
import time

import numpy as np
import pytest
import torch
import transformers

from cortexplorer.brainscuba.captioner import (
    Captioner,
    ClipCaptionModel,
    HFTokenizer,
    WordTokenizer,
    beam_search,
    clipcap_state_dict_fix,
    load_captioner,
    load_clipcap,
    load_demo_captioner,
)
from cortexplorer.models.demo_captioner import DemoCaptionerSettings, fit_demo_captioner, write_demo_captioner

torch.set_num_threads(1)


def tiny_config(vocab_size: int = 40, **kw) -> transformers.GPT2Config:
    # a wide initialisation so a random model writes varied sequences rather than one repeated token
    kw = {"n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 2, "initializer_range": 0.8, **kw}
    return transformers.GPT2Config(vocab_size=vocab_size, bos_token_id=0, eos_token_id=0, **kw)


def tiny_model(vocab_size: int = 40, prefix_length: int = 3, prefix_size: int = 16, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return ClipCaptionModel(prefix_length, prefix_size, tiny_config(vocab_size, **kw)).eval()


def prefixes(model: ClipCaptionModel, n: int, seed: int = 1) -> torch.Tensor:
    with torch.no_grad():
        return model.prefix_embeddings(torch.randn(n, model.prefix_size, generator=torch.Generator().manual_seed(seed)))


@torch.no_grad()
def log_probs(model: ClipCaptionModel, prefix: torch.Tensor, tokens: list[int]) -> torch.Tensor:
    """log p(next token | prefix, tokens) by running the whole sequence (float64)."""
    seq = torch.cat((prefix[None], model.gpt.transformer.wte(torch.tensor([tokens], dtype=torch.long))), dim=1)
    return model.gpt(inputs_embeds=seq).logits[0, -1].double().log_softmax(-1)


# ---------------------------------------------------------------------------------------------------- tokenizer


def test_word_tokenizer_round_trip():
    tok = WordTokenizer.from_captions(["A red ball, on the left.", "a blue cat on the right"])
    assert tok.vocab[:3] == ["<pad>", "<unk>", "."]
    assert tok.vocab[3:] == sorted(["a", "red", "ball", ",", "on", "the", "left", "blue", "cat", "right"])
    assert tok.eos_id == 2 and len(tok) == 13
    ids = tok.encode("a red ball, on the left.")
    assert ids[-1] == tok.eos_id and ids.count(tok.vocab.index(",")) == 1
    assert tok.decode(ids) == "a red ball, on the left."
    assert tok.encode("a green ball") == [tok.vocab.index("a"), 1, tok.vocab.index("ball")]  # green is unknown
    assert tok.decode(tok.encode("A GREEN ball")) == "a <unk> ball"
    assert tok.decode([0, *tok.encode("a cat."), 0, 0]) == "a cat."  # padding skipped
    again = WordTokenizer.from_dict(tok.to_dict())
    assert again.vocab == tok.vocab and again.encode("the blue cat.") == tok.encode("the blue cat.")
    with pytest.raises(ValueError, match="outside this tokenizer's vocabulary"):
        tok.decode([99])


# ------------------------------------------------------------------------------------------------ loading CLIPCap


def old_transformers_state(model: ClipCaptionModel) -> dict:
    """The state dict as transformers < 4.31 saved it: with each block's causal mask and masked_bias buffers."""
    state = dict(model.state_dict())
    n = model.gpt.config.n_positions
    for i in range(model.gpt.config.n_layer):
        state[f"gpt.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(n, n, dtype=torch.uint8)).view(1, 1, n, n)
        state[f"gpt.transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return state


def test_load_clipcap_checkpoint_from_old_transformers(tmp_path):
    source = tiny_model()
    state = old_transformers_state(source)
    assert "gpt.transformer.h.0.attn.c_attn.bias" in state and "clip_project.model.2.weight" in state
    clean, dropped = clipcap_state_dict_fix(state)
    assert sorted(dropped) == sorted(f"gpt.transformer.h.{i}.attn.{b}" for i in (0, 1) for b in ("bias", "masked_bias"))
    assert set(clean) == set(source.state_dict())
    path = tmp_path / "coco_weights.pt"
    torch.save(state, path)

    loaded = load_clipcap(path, prefix_length=3, prefix_size=16, gpt2_config=tiny_config().to_dict())
    tokens = torch.randint(0, 40, (2, 5))
    x = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens, x), source(tokens, x), rtol=0, atol=0)

    words = [f"w{i}" for i in range(37)]
    captioner = Captioner(loaded, WordTokenizer.from_captions(words))
    assert len(captioner.tokenizer) == 40
    text = captioner.caption(x.numpy(), max_length=10, progress=False)
    ids = beam_search(loaded, loaded.prefix_embeddings(x), eos_id=2, max_length=10)
    expect = [captioner.tokenizer.decode(s[:s.index(2) + 1] if 2 in s else s) for s in ids]
    assert text == expect and all(t for t in text)
    assert captioner.identity["weights_sha256"] and captioner.identity["n_layer"] == 2


def test_load_clipcap_errors(tmp_path):
    state = old_transformers_state(tiny_model())
    state["gpt.transformer.h.0.attn.rotary_freq"] = torch.zeros(3)
    path = tmp_path / "other.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"other\.pt.*unexpected keys \['gpt\.transformer\.h\.0\.attn\.rotary_freq'\]"):
        load_clipcap(path, prefix_length=3, prefix_size=16, gpt2_config=tiny_config())
    del state["gpt.transformer.h.0.attn.rotary_freq"], state["clip_project.model.0.bias"]
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing keys \['clip_project\.model\.0\.bias'\]"):
        load_clipcap(path, prefix_length=3, prefix_size=16, gpt2_config=tiny_config())
    torch.save(tiny_model().state_dict(), path)
    with pytest.raises(ValueError, match="prefix_length 4"):  # a mapper of another size
        load_clipcap(path, prefix_length=4, prefix_size=16, gpt2_config=tiny_config())
    missing = tmp_path / "nowhere" / "coco_weights.pt"
    with pytest.raises(FileNotFoundError, match=r"nowhere/coco_weights\.pt.*brainscuba\.captioner\.weights.*akhaliq"):
        load_clipcap(missing)


def test_load_captioner_clipcap_spec(tmp_path):
    """The config path: a GPT-2 folder (config + BPE tokenizer files) and CLIPCap weights, all local."""
    tokenizers = pytest.importorskip("tokenizers")
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["a red ball, on the left.", "a blue cat, facing right."] * 3, vocab_size=120,
                            min_frequency=1, show_progress=False, special_tokens=["<|endoftext|>"])
    bpe.save_model(str(gpt2))
    tok = HFTokenizer(gpt2)
    assert tok.decode(tok.encode("a red ball, on the left.")) == "a red ball, on the left."
    assert tok.encode(".") == [tok.eos_id]
    config = tiny_config(len(tok))
    config.save_pretrained(gpt2)
    torch.manual_seed(0)
    model = ClipCaptionModel(3, 16, config)
    torch.save(old_transformers_state(model), tmp_path / "coco_weights.pt")

    spec = {"kind": "clipcap", "weights": str(tmp_path / "coco_weights.pt"), "gpt2": str(gpt2), "prefix_length": 3,
            "prefix_size": 16}
    captioner = load_captioner(spec)
    assert isinstance(captioner.tokenizer, HFTokenizer) and captioner.identity["kind"] == "clipcap"
    out = captioner.caption(np.random.default_rng(0).standard_normal((2, 16)), max_length=8, progress=False)
    assert len(out) == 2 and all(isinstance(c, str) and c for c in out)

    with pytest.raises(FileNotFoundError, match=r"nogpt2.*brainscuba\.captioner\.gpt2.*huggingface-cli download gpt2"):
        load_captioner({**spec, "gpt2": str(tmp_path / "nogpt2")})
    with pytest.raises(ValueError, match=r"Unknown brainscuba\.captioner kind 'blip'"):
        load_captioner({"kind": "blip"})
    with pytest.raises(FileNotFoundError, match="run the demo_captioner rule"):
        load_captioner({"kind": "demo_captioner"}, demo_weights=tmp_path / "missing.pt")


# ------------------------------------------------------------------------------------------------------ beam search


def greedy(model: ClipCaptionModel, prefix: torch.Tensor, eos_id: int, max_length: int) -> list[int]:
    tokens: list[int] = []
    while len(tokens) < max_length:
        tokens.append(int(log_probs(model, prefix, tokens).argmax()))
        if tokens[-1] == eos_id:
            break
    return tokens


@pytest.mark.parametrize("beam_size", [1, 5])
def test_beam_search_cache_equals_recompute(beam_size):
    model = tiny_model(seed=3)
    pre = prefixes(model, 6)
    # an eos the model does emit: the 4th greedy token of the first prefix, so some beams finish early
    eos = greedy(model, pre[0], eos_id=-1, max_length=4)[3]
    cached = beam_search(model, pre, eos_id=eos, beam_size=beam_size, max_length=20, use_cache=True)
    recomputed = beam_search(model, pre, eos_id=eos, beam_size=beam_size, max_length=20, use_cache=False)
    assert cached == recomputed
    assert any(s[-1] == eos and len(s) < 20 for s in cached)  # finished ones end with the eos
    assert all(eos not in s[:-1] for s in cached)
    if beam_size == 1:
        assert cached == [greedy(model, p, eos, 20) for p in pre]
    one_by_one = [beam_search(model, p[None], eos_id=eos, beam_size=beam_size, max_length=20)[0] for p in pre]
    assert one_by_one == cached  # batching (and dropping finished rows) changes nothing


def test_beam_search_exhaustive_equals_brute_force():
    """With more beams than candidates, beam search is exhaustive: it must return the best sequence by brute force."""
    vocab, eos, max_length = 5, 4, 3
    model = tiny_model(vocab_size=vocab, seed=7)
    pre = prefixes(model, 4, seed=2)
    for p in pre:
        best, best_score = None, -np.inf
        for length in range(1, max_length + 1):
            for seq in itertools.product(range(vocab), repeat=length):
                if eos in seq[:-1] or (length < max_length and seq[-1] != eos):
                    continue  # not a finished caption, nor one cut at max_length
                score = sum(float(log_probs(model, p, list(seq[:t]))[seq[t]]) for t in range(length)) / length
                if score > best_score:
                    best, best_score = list(seq), score
        for use_cache in (True, False):
            found = beam_search(model, p[None], eos_id=eos, beam_size=100, max_length=max_length, use_cache=use_cache)
            assert found == [best]


# ------------------------------------------------------------------------------------------------------ the demo


def planted_world(n: int, dim: int = 32, seed: int = 0):
    """Three objects (class centroids), each captioned by its template with a colour and a side that follow two
    other planted directions of the embedding."""
    rng = np.random.default_rng(seed)
    centroids, colour_dir, side_dir = rng.standard_normal((3, dim)), rng.standard_normal(dim), rng.standard_normal(dim)
    templates = ["a {c} ball on the {s}", "a small {c} cat, facing {s}", "a {c} house under a hazy sky, on the {s}"]
    cls = rng.integers(0, 3, n)
    colour = rng.integers(0, 2, n)
    side = rng.integers(0, 2, n)
    emb = (2.5 * centroids[cls] + 1.5 * (2 * colour[:, None] - 1) * colour_dir + 1.5 * (2 * side[:, None] - 1) * side_dir
           + 0.4 * rng.standard_normal((n, dim)))
    captions = [templates[k].format(c=("red", "blue")[c], s=("left", "right")[s])
                for k, c, s in zip(cls, colour, side, strict=True)]
    return emb.astype(np.float32), captions


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_captioner")
    emb, captions = planted_world(640)
    start = time.perf_counter()
    settings = DemoCaptionerSettings(epochs=12, batch_size=32, learning_rate=3e-3, prefix_length=4, n_layer=2,
                                     n_embd=64, n_head=2, heldout_fraction=0.1, seed=0, device="cpu")
    fit = fit_demo_captioner(emb, captions, settings)
    write_demo_captioner(fit, str(out / "model.pt"), str(out / "curve.tsv"))
    metrics = dict(fit.metrics)
    metrics["seconds"] = time.perf_counter() - start
    return out, metrics


def test_demo_captioner_learns_the_planted_world(demo):
    out, metrics = demo
    print(f"\ndemo captioner on the planted world: {metrics}")
    assert metrics["n_heldout"] == 64
    assert metrics["heldout_exact_match"] >= 0.9
    assert metrics["heldout_token_accuracy"] >= 0.97
    curve = np.genfromtxt(out / "curve.tsv", delimiter="\t", names=True)
    assert len(curve) == 12 and curve["heldout_loss"][-1] < curve["heldout_loss"][0] / 3

    # fresh draws of the same world (same planted directions, new noise and attributes)
    captioner = load_demo_captioner(out / "model.pt")
    emb, captions = planted_world(640 + 50, seed=0)
    got = captioner.caption(emb[640:], progress=False)
    match = np.mean([g == f"{c}." for g, c in zip(got, captions[640:], strict=True)])
    assert match >= 0.9, list(zip(got[:5], captions[640:645], strict=True))
    assert captioner.identity["kind"] == "demo_captioner" and captioner.identity["vocab_size"] == len(captioner.tokenizer)


def test_demo_captioner_round_trip(demo):
    out, _ = demo
    a, b = load_demo_captioner(out / "model.pt"), load_demo_captioner(out / "model.pt")
    emb, _ = planted_world(20, seed=5)
    assert a.caption(emb, progress=False) == b.caption(emb, progress=False, use_cache=False)
    assert load_captioner({"kind": "demo_captioner"}, demo_weights=out / "model.pt").caption(
        emb[:3], progress=False) == a.caption(emb[:3], progress=False)


def test_captioner_skips_nan_rows(demo, caplog):
    out, _ = demo
    captioner = load_demo_captioner(out / "model.pt")
    emb, _ = planted_world(4, seed=3)
    emb[1, 5] = np.nan
    with caplog.at_level(logging.WARNING):
        got = captioner.caption(emb, progress=False)
    assert got[1] == "" and all(got[i].endswith(".") for i in (0, 2, 3))
    assert "1 of 4 embeddings have NaN" in caplog.text
    assert got[0] == captioner.caption(emb[:1], progress=False)[0]
    with pytest.raises(ValueError, match="N × 32 embeddings"):
        captioner.caption(np.zeros((2, 31)))
