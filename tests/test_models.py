"""Backbones: real open_clip architectures from a local hub cache (no download), the demo CLIP, features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cortexplorer.features import read_features, write_features
from cortexplorer.models import BackboneSpec, load_backbone, open_clip_module, resolve_open_clip_weights
from cortexplorer.models.demo_clip import category_phrase, retrieval_scores, short_captions


def _fake_hub(cache, repo: str, filename: str, state: dict) -> None:
    """A Hugging Face hub cache holding one file, laid out as huggingface_hub writes it."""
    from safetensors.torch import save_file

    revision = "0123456789abcdef0123456789abcdef01234567"
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    snap = folder / "snapshots" / revision
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snap / filename))


@pytest.mark.timeout(300)
def test_real_vit_b32_loads_from_the_local_cache_with_its_tag_settings(tmp_path):
    """BrainSCUBA's backbone (ViT-B-32, tag openai) built at full size with random weights, put in a
    hub cache where open_clip's tag points, and loaded back by the features code path."""
    open_clip = open_clip_module()
    torch.manual_seed(0)
    source = open_clip.create_model("ViT-B-32", force_quick_gelu=True).eval()  # the openai tag uses QuickGELU
    _fake_hub(tmp_path, "timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors", source.state_dict())
    spec = BackboneSpec.from_config("brainscuba", {"kind": "open_clip", "arch": "ViT-B-32", "pretrained": "openai",
                                                   "cache_dir": str(tmp_path)})
    backbone = load_backbone(spec)
    assert backbone.image_size == 224 and backbone.embed_dim == 512
    assert backbone.identity["arch"] == "ViT-B-32" and len(backbone.identity["weights_sha256"]) == 64
    images = torch.rand(2, 3, 224, 224)
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = source.encode_image((images - mean) / std)
        got = backbone(images)
        plain_gelu = open_clip.create_model("ViT-B-32").eval()
        plain_gelu.load_state_dict(source.state_dict())
        other = plain_gelu.encode_image((images - mean) / std)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (other - expected).abs().max() > 1e-3  # the tag's QuickGELU matters: a wrong activation would show


def test_missing_or_unknown_weights_are_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not in the local cache.*features.backbones.braindive"):
        resolve_open_clip_weights("ViT-B-16", "laion2b_s34b_b88k", str(tmp_path),
                                  config_key="features.backbones.braindive")
    with pytest.raises(ValueError, match="neither a file nor an open_clip tag"):
        resolve_open_clip_weights("ViT-B-16", "no_such_tag", str(tmp_path))
    with pytest.raises(ValueError, match="no architecture 'ViT-Q-99'"):
        resolve_open_clip_weights("ViT-Q-99", "openai", str(tmp_path))
    with pytest.raises(ValueError, match="needs 'arch' and 'pretrained'"):
        BackboneSpec.from_config("x", {"kind": "open_clip", "arch": "ViT-B-16"})
    with pytest.raises(FileNotFoundError, match="run the demo_clip rule"):
        load_backbone(BackboneSpec.from_config("democlip", {"kind": "demo_clip"}), demo_weights=tmp_path / "none.pt")


def _demo_weights(path, image_size=32):
    from cortexplorer.io.torchfile import save_torch
    from cortexplorer.models.backbone import DEMO_ARCH

    torch.manual_seed(1)
    model = open_clip_module().create_model(DEMO_ARCH, force_image_size=image_size)
    save_torch({"arch": DEMO_ARCH, "image_size": image_size, "state_dict": model.state_dict()}, path)
    return model


def test_demo_backbone_embeddings_are_unit_norm_and_match_open_clip(tmp_path):
    model = _demo_weights(tmp_path / "clip.pt").eval()
    backbone = load_backbone(BackboneSpec.from_config("democlip", {"kind": "demo_clip"}),
                             demo_weights=tmp_path / "clip.pt")
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    emb = backbone.embed(images, batch_size=2, progress=False)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = model.encode_image((x - backbone.mean) / backbone.std, normalize=True).numpy()
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-6)
    # larger inputs are resized to the model's size inside the differentiable path
    assert backbone(torch.rand(1, 3, 48, 48)).shape == (1, backbone.embed_dim)


def test_feature_files_refuse_another_model_and_nan(tmp_path):
    ident = {"kind": "demo_clip", "arch": "a", "pretrained": "", "weights_sha256": "1" * 64, "embed_dim": 2,
             "image_size": 32}
    feats = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    write_features(tmp_path / "f.h5", feats, np.array(["s1", "s2"]), ident)
    back = read_features(tmp_path / "f.h5", expect=ident)
    np.testing.assert_array_equal(back.features, feats)
    with pytest.raises(ValueError, match=r"made by another model.*weights_sha256"):
        read_features(tmp_path / "f.h5", expect={**ident, "weights_sha256": "2" * 64})
    with pytest.raises(ValueError, match=r"1 embeddings hold NaN.*'s2'"):
        write_features(tmp_path / "g.h5", np.array([[1.0, 0.0], [np.nan, 0.0]]), np.array(["s1", "s2"]), ident)
    assert not (tmp_path / "g.h5").exists()


def test_retrieval_scores_and_short_captions_on_known_answers():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 4))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    caps = np.array(["a", "b", "c", "d", "e", "f"])
    s = retrieval_scores(emb, emb, caps, np.array(list("xxyyzz")))
    assert s["image_to_text_top1"] == 1.0 and s["text_to_image_top1"] == 1.0 and s["chance_top1"] == pytest.approx(1 / 6)
    shuffled = emb[[1, 0, 3, 2, 5, 4]]  # every image's nearest caption is its neighbour's
    s = retrieval_scores(emb, shuffled, caps, np.array(list("xxyyzz")))
    assert s["image_to_text_top1"] == 0.0 and s["image_to_text_top1_same_category"] == 1.0
    same = np.array(["a", "a", "c", "c", "e", "e"])  # a repeated caption text counts as a hit
    assert retrieval_scores(emb, shuffled, same, np.array(list("xxyyzz")))["image_to_text_top1"] == 1.0
    caps = np.array(["a red ball, upright, on the left, on a blue background"])
    assert short_captions(caps, 1.0, rng) == [caps[0]]
    kept = [short_captions(caps, 0.5, rng)[0] for _ in range(200)]
    assert all(k.startswith("a red ball") for k in kept)
    assert 0.35 < np.mean(["on the left" in k for k in kept]) < 0.65
    assert category_phrase("food") == "some food" and category_phrase("tool") == "a tool"


def test_region_response_gradient_through_a_tiny_open_clip_backbone_matches_finite_differences(tmp_path):
    """d(mean predicted response of a region)/d(image) through resize, normalisation, the ViT and the
    unit-norm read-out, in float64, against central differences."""
    from cortexplorer.encoder import ImageEncoder, VoxelEncoder

    _demo_weights(tmp_path / "clip.pt", image_size=16)
    backbone = load_backbone(BackboneSpec.from_config("democlip", {"kind": "demo_clip"}),
                             demo_weights=tmp_path / "clip.pt").double()
    rng = np.random.default_rng(0)
    voxels = VoxelEncoder(torch.as_tensor(rng.normal(size=(backbone.embed_dim, 6))), torch.as_tensor(rng.normal(size=6)),
                          torch.zeros(6, 3, dtype=torch.long), torch.ones(6)).select([1, 3, 4])
    model = ImageEncoder(backbone, voxels).double().eval()
    image = torch.rand(1, 3, 24, 24, dtype=torch.float64, requires_grad=True)  # resized to 16 inside
    model(image).mean().backward()
    grad = image.grad.view(-1).numpy()
    eps = 1e-6
    picks = rng.choice(grad.size, 24, replace=False)
    numeric = []
    with torch.no_grad():
        for i in picks:
            step = torch.zeros(grad.size, dtype=torch.float64)
            step[i] = eps
            step = step.view_as(image)
            numeric.append((model(image + step).mean() - model(image - step).mean()).item() / (2 * eps))
    np.testing.assert_allclose(grad[picks], numeric, rtol=1e-4, atol=1e-8)
    assert np.abs(grad).max() > 0

