"""SPoSE on a planted embedding (reference §6.4): known dimensions, known choice probabilities, known ceiling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special, stats

from cortexplorer.triplets import spose

N_OBJECTS, N_CATEGORY_DIMS, N_RANDOM_DIMS = 200, 6, 2


@pytest.fixture(scope="module")
def one_torch_thread():
    """The fit's ops are tiny: one thread is fastest and does not stall when other jobs share the cores."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def planted(one_torch_thread):
    """200 objects in 6 categories plus 2 sparse random dimensions; 40k training and 10k held-out triplets."""
    rng = np.random.default_rng(7)
    categories = np.arange(N_OBJECTS) % N_CATEGORY_DIMS
    X = spose.planted_embedding(N_OBJECTS, categories, N_CATEGORY_DIMS, N_RANDOM_DIMS, rng, scale=1.5)
    train, _ = spose.simulate_odd_one_out(X, 40_000, rng, temperature=1.0)
    heldout, heldout_p = spose.simulate_odd_one_out(X, 10_000, rng, temperature=1.0)
    hyper = spose.SposeHyperparameters(n_dims=30, l1=0.08, epochs=60, batch_size=512, lr=0.01, seed=0)
    fit = spose.fit_spose(train, N_OBJECTS, hyper, device="cpu", validation=heldout)
    return {"X": X, "train": train, "heldout": heldout, "heldout_p": heldout_p, "fit": fit}


def test_planted_embedding_is_sparse_nonnegative_and_categorical():
    rng = np.random.default_rng(0)
    categories = rng.integers(0, 4, 300)
    X = spose.planted_embedding(300, categories, 4, 3, rng, scale=2.0, density=0.25)
    assert X.shape == (300, 7) and (X >= 0).all()
    np.testing.assert_array_equal(np.argmax(X[:, :4], axis=1), categories)
    assert ((X[:, :4] > 0).sum(axis=1) == 1).all()
    assert abs((X[:, 4:] > 0).mean() - 0.25) < 0.03
    assert abs(X[X > 0].mean() - 2.0) < 0.1
    with pytest.raises(ValueError, match="categories must lie in 0 … 3"):
        spose.planted_embedding(300, categories + 1, 4, 3, rng, scale=1.5)


def test_simulated_choices_follow_the_softmax_in_things_order():
    X = np.array([[2.0, 0.0], [1.5, 0.3], [0.2, 1.0]])
    shown = np.array([[0, 1, 2]])
    p_true = special.softmax(np.array([X[0] @ X[1], X[0] @ X[2], X[1] @ X[2]]) / 0.7)
    triplets, probs = spose.simulate_odd_one_out(X, 0, np.random.default_rng(1), temperature=0.7,
                                                 repeats=(1, 20_000))
    assert (np.sort(triplets, axis=1) == shown).all()
    # THINGS order: the odd one out is last, so each pair's frequency is that of its left-out item.
    freq = np.array([np.mean(triplets[:, 2] == odd) for odd in (2, 1, 0)])
    np.testing.assert_allclose(freq, p_true, atol=0.012)
    # probs are per row in pair order (0, 1), (0, 2), (1, 2): column 0 is the choice that was made.
    np.testing.assert_allclose(probs[:, 0], p_true[2 - triplets[:, 2]], rtol=1e-12)
    np.testing.assert_allclose(probs.max(axis=1), p_true.max(), rtol=1e-12)


def test_planted_dimensions_and_ceiling_are_recovered(planted):
    X, fit, heldout, heldout_p = planted["X"], planted["fit"], planted["heldout"], planted["heldout_p"]
    ceiling = spose.analytic_ceiling(X, heldout, 1.0)
    assert ceiling == pytest.approx(heldout_p.max(axis=1).mean())
    accuracy = spose.odd_one_out_accuracy(fit.W, heldout)
    # Expected accuracy under the true probabilities: no sampling noise, and never above the ceiling.
    s = spose.pair_similarities(fit.W, heldout)
    expected = heldout_p[np.arange(len(heldout)), np.argmax(s, axis=1)].mean()
    W, kept = spose.prune_dimensions(fit.W, spose.SPOSE_PRUNE_THRESHOLD, return_index=True)
    r = spose.match_dimensions(W, X)
    print(f"\nSPoSE planted world: held-out accuracy {accuracy:.4f}, expected {expected:.4f}, analytic ceiling "
          f"{ceiling:.4f}; dims kept {W.shape[1]} of {fit.W.shape[1]} (planted {X.shape[1]}); matched r "
          f"{np.round(r, 3).tolist()}; fit {fit.seconds:.1f} s")
    assert abs(accuracy - ceiling) < 0.02
    assert ceiling - 0.01 < expected <= ceiling + 1e-12
    assert fit.val_accuracy[-1] == pytest.approx(accuracy)
    assert W.shape[1] == X.shape[1]
    assert fit.n_dims[-1] == len(kept)
    assert np.all(r > 0.9), r
    assert fit.cross_entropy[-1] < fit.cross_entropy[0]
    assert (fit.W >= 0).all()


def test_repeat_ceiling_matches_its_exact_multinomial_expectation():
    """Modal agreement at r repeats has a known expectation (enumerate all choice counts); it overshoots E[max p]."""
    rng = np.random.default_rng(3)
    X = spose.planted_embedding(N_OBJECTS, np.arange(N_OBJECTS) % N_CATEGORY_DIMS, N_CATEGORY_DIMS,
                                N_RANDOM_DIMS, rng, scale=1.5)
    r = 25
    triplets, _ = spose.simulate_odd_one_out(X, 0, rng, temperature=1.0, repeats=(500, r))
    p = spose.choice_probabilities(X, triplets[::r], 1.0)
    counts = np.array([c for c in itertools.product(range(r + 1), repeat=2) if sum(c) <= r])
    counts = np.c_[counts, r - counts.sum(axis=1)]
    exact = (stats.multinomial.pmf(counts[None], r, p[:, None, :]) * counts.max(axis=1) / r).sum(axis=1).mean()
    modal, n_used = spose.repeat_ceiling(triplets)
    loo, _ = spose.repeat_ceiling(triplets, leave_one_out=True)
    analytic = p.max(axis=1).mean()
    print(f"\nrepeat ceiling 500 x {r}: modal {modal:.4f} (exact expectation {exact:.4f}), leave-one-out {loo:.4f}, "
          f"analytic {analytic:.4f}")
    assert n_used == 500
    assert abs(modal - exact) < 0.01
    assert modal > analytic + 0.02  # the upward bias of modal agreement at few repeats is real
    assert abs(loo - analytic) < 0.02


def test_repeat_ceiling_converges_to_the_analytic_ceiling():
    rng = np.random.default_rng(4)
    X = spose.planted_embedding(N_OBJECTS, np.arange(N_OBJECTS) % N_CATEGORY_DIMS, N_CATEGORY_DIMS,
                                N_RANDOM_DIMS, rng, scale=1.5)
    triplets, _ = spose.simulate_odd_one_out(X, 0, rng, temperature=1.0, repeats=(200, 400))
    analytic = spose.analytic_ceiling(X, triplets[::400], 1.0)
    modal, _ = spose.repeat_ceiling(triplets)
    loo, _ = spose.repeat_ceiling(triplets, leave_one_out=True)
    print(f"\nrepeat ceiling 200 x 400: modal {modal:.4f}, leave-one-out {loo:.4f}, analytic {analytic:.4f}")
    assert abs(modal - analytic) < 0.02
    assert abs(loo - analytic) < 0.01


def _brute_force_accuracy(W, triplets):
    hits = 0
    for t in triplets:
        sims = {(a, b): float(np.dot(W[t[a]], W[t[b]])) for a, b in ((0, 1), (0, 2), (1, 2))}
        best = max(sims.values())
        winners = [pair for pair, s in sims.items() if s == best]
        if len(winners) == 1:
            left_out = ({0, 1, 2} - set(winners[0])).pop()
            hits += t[left_out] == t[2]
    return hits / len(triplets)


def _brute_force_objective(W, triplets, l1):
    ce = 0.0
    for t in triplets:
        s = [float(np.dot(W[t[a]], W[t[b]])) for a, b in ((0, 1), (0, 2), (1, 2))]
        ce -= np.log(np.exp(s[0]) / sum(np.exp(v) for v in s))
    return ce / len(triplets) + l1 / len(W) * np.abs(W).sum()


def test_accuracy_and_loss_match_brute_force():
    rng = np.random.default_rng(5)
    W = rng.exponential(1.0, (12, 4)) * (rng.random((12, 4)) < 0.6)
    W[3] = 0.0  # an all-zero object makes exact ties, which count as wrong
    triplets = spose.random_triplets(12, 400, rng)
    assert (triplets[:, 0] != triplets[:, 1]).all() and (triplets[:, 1] != triplets[:, 2]).all()
    assert (triplets[:, 0] != triplets[:, 2]).all()
    assert spose.odd_one_out_accuracy(W, triplets) == pytest.approx(_brute_force_accuracy(W, triplets))
    assert spose.spose_objective(W, triplets, 0.3) == pytest.approx(_brute_force_objective(W, triplets, 0.3))
    p = spose.choice_probabilities(W, triplets, temperature=2.0)
    t = triplets[0]
    s = np.array([W[t[0]] @ W[t[1]], W[t[0]] @ W[t[2]], W[t[1]] @ W[t[2]]])
    np.testing.assert_allclose(p[0], np.exp(s / 2) / np.exp(s / 2).sum())


def test_fit_loss_is_the_documented_objective(one_torch_thread):
    """With a vanishing learning rate W stays at its start, so epoch 1's loss is spose_objective of that W."""
    rng = np.random.default_rng(6)
    triplets = spose.random_triplets(30, 3000, rng)
    calls = []
    hyper = spose.SposeHyperparameters(n_dims=5, l1=0.5, epochs=2, batch_size=3000, lr=1e-12, seed=0, l1_burnin=0,
                                       l1_warmup=0)
    fit = spose.fit_spose(triplets, 30, hyper, device="cpu",
                          progress=lambda epoch, stats: calls.append((epoch, stats["loss"])))
    assert fit.loss[0] == pytest.approx(spose.spose_objective(fit.W, triplets, 0.5), rel=1e-5)
    assert [c[0] for c in calls] == [1, 2] and calls[0][1] == fit.loss[0]
    assert fit.W.shape == (30, 5) and fit.W.mean() == pytest.approx(0.1, abs=0.01)


def test_prune_and_match_dimensions():
    W = np.array([[0.0, 0.05, 2.0, 0.3], [0.0, 0.1, 1.0, 0.0], [0.0, 0.02, 0.0, 0.9]])
    pruned, kept = spose.prune_dimensions(W, spose.SPOSE_PRUNE_THRESHOLD, return_index=True)
    np.testing.assert_array_equal(kept, [2, 3])  # column 1's max is exactly 0.1: SPoSE keeps only > 0.1
    np.testing.assert_array_equal(pruned, W[:, [2, 3]])
    X = np.array([[1.0, 0.0, 5.0], [2.0, 1.0, 5.0], [3.0, 0.0, 5.0], [4.0, 1.0, 5.0]])
    fitted = np.c_[X[:, 1] * 3 + 0.1, np.zeros(4), X[:, 0] * 0.5]
    r, index = spose.match_dimensions(fitted, X, return_index=True)
    np.testing.assert_allclose(r[:2], [1.0, 1.0])
    np.testing.assert_array_equal(index[:2], [2, 0])
    assert r[2] == 0.0  # a constant planted column has no correlation; it is matched to what is left, as 0
    r_short = spose.match_dimensions(fitted[:, [2]], X)
    assert r_short[0] == pytest.approx(1.0) and np.isnan(r_short[1:]).all()


# ------------------------------------------------------------------------------------------------
# THINGS reader


def test_things_reader_round_trip(tmp_path):
    triplets = spose.random_triplets(50, 200, np.random.default_rng(8))
    as_ints = tmp_path / "train_90.txt"
    np.savetxt(as_ints, triplets, fmt="%d")
    np.testing.assert_array_equal(spose.read_things_triplets(as_ints, n_objects=50), triplets)
    as_floats = tmp_path / "test_10.txt"  # np.savetxt's default, which SPoSE's tripletize.py writes
    np.savetxt(as_floats, triplets)
    read = spose.read_things_triplets(as_floats)
    assert read.dtype == np.int64
    np.testing.assert_array_equal(read, triplets)
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("# pair, pair, odd one out\n0\t1\t2\n\n3 4  5\n")
    np.testing.assert_array_equal(spose.read_things_triplets(tabs), [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize(("content", "n_objects", "message"), [
    ("", None, "holds no triplets"),
    ("# only a comment\n\n", None, "holds no triplets"),
    ("0 1 2\n3 four 5\n", None, "line 2: 'four' is not an integer"),
    ("0 1 2\n3 4.5 5\n", None, r"data row 2: \[3.0, 4.5, 5.0\] is not three integers"),
    ("0 1 2\n3 4\n", None, "line 2: 2 values"),
    ("0 1 2 3\n4 5 6 7\n", None, "has 4 columns"),
    ("0 1 2\n3 -4 5\n", None, "negative object index"),
    ("0 1 2\n3 4 50\n", 50, "index >= n_objects = 50"),
    ("0 1 2\n3 4 3\n", None, "repeats an object"),
])
def test_things_reader_rejects_bad_files(tmp_path, content, n_objects, message):
    path = tmp_path / "bad_triplets.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        spose.read_things_triplets(path, n_objects=n_objects)
    assert "bad_triplets.txt" in str(info.value)
