"""BrainDiVE's guided sampler: exactness against diffusers, gradient against finite differences, the real
Stable Diffusion path at tiny size, and the stage's handling of bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from cortexplorer.braindive.guidance import RegionScore, from_epsilon, guidance_gradient, sample, to_epsilon
from cortexplorer.braindive.stage import check_finished, rank_and_keep, region_voxels
from cortexplorer.models.diffusion import from_pipeline
from tests.tiny_models import demo_backbone, random_encoder, tiny_pixel_model, tiny_stable_diffusion


def _generators(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_unguided_pixel_sampler_reproduces_diffusers_exactly_and_each_seed_alone():
    from diffusers import DDPMPipeline

    model = tiny_pixel_model()
    seeds = [3, 5, 11]
    ours = sample(model, None, seeds=seeds, steps=5, scale=0.0, progress=False)
    pipe = DDPMPipeline(unet=model.unet, scheduler=model.make_scheduler())
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(batch_size=3, generator=_generators(seeds), num_inference_steps=5, output_type="np").images
    assert np.array_equal(ours.images.permute(0, 2, 3, 1).numpy(), theirs)
    alone = sample(model, None, seeds=[5], steps=5, scale=0.0, progress=False)
    # an image depends on its seed, not on its batch (up to the batch size's float summation order)
    torch.testing.assert_close(alone.images[0], ours.images[1], rtol=0, atol=1e-4)
    assert ours.ok.all() and ours.images.std() > 0.01


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
def test_noise_and_velocity_conversions_match_diffusers(schedule):
    """ε from v and v from ε for a noisy sample, against diffusers' own ``add_noise`` and ``get_velocity``."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(beta_schedule=schedule, prediction_type="v_prediction")
    gen = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 3, 4, 4, generator=gen), torch.randn(6, 3, 4, 4, generator=gen)
    t = torch.tensor([1, 100, 400, 700, 950, 999])
    xt, v = sched.add_noise(x0, noise, t), sched.get_velocity(x0, noise, t)
    abar = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(to_epsilon(v, xt, abar, "v_prediction"), noise, rtol=0, atol=1e-4)
    # v from ε divides by √ᾱ: float32 rounding of x_t (~1e-7) grows by 1/√ᾱ (2·10⁴ at t = 999 of the cosine schedule)
    error = (from_epsilon(noise, xt, abar, "v_prediction") - v).abs()
    assert (error <= 1e-4 + 1e-6 / abar.sqrt()).all(), error.amax(dim=(1, 2, 3))
    assert torch.equal(to_epsilon(noise, xt, abar, "epsilon"), noise)
    assert torch.equal(from_epsilon(noise, xt, abar, "epsilon"), noise)


class _Flat(torch.nn.Module):
    """A score with zero gradient everywhere: guidance through it must not change a sample."""

    def forward(self, images):
        return images.sum(dim=(1, 2, 3)) * 0.0


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_guided_sampling_with_a_flat_score_equals_unguided_sampling(prediction_type):
    """The guided branch (output → ε → shifted ε → output) is the identity when the gradient is zero: for a
    v-prediction model too (a wrong inverse turned every guided v-prediction sample into noise)."""
    model = tiny_pixel_model(prediction_type=prediction_type, beta_schedule="squaredcos_cap_v2")
    plain = sample(model, None, seeds=[1, 2], steps=6, scale=0.0, progress=False)
    guided = sample(model, _Flat(), seeds=[1, 2], steps=6, scale=100.0, progress=False)
    torch.testing.assert_close(guided.images, plain.images, rtol=0, atol=1e-4)


def test_unguided_latent_sampler_reproduces_stable_diffusion_pipeline_and_guidance_runs(tmp_path):
    """The real path: a tiny StableDiffusionPipeline (VAE, UNet2DConditionModel, CLIP text encoder, tokenizer)
    with random weights; 2 steps on CPU, unguided equal to the pipeline, then guided through the VAE decoder."""
    pipe = tiny_stable_diffusion(tmp_path)
    model = from_pipeline(pipe)
    seeds = [0, 7]
    ours = sample(model, None, seeds=seeds, steps=2, scale=0.0, progress=False)
    pipe.scheduler = model.make_scheduler()  # BrainDiVE: DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    theirs = pipe(prompt=[""] * 2, height=16, width=16, num_inference_steps=2, guidance_scale=0.0,
                  generator=_generators(seeds), output_type="pt").images
    assert ours.images.shape == (2, 3, 16, 16)
    assert torch.equal(ours.images, theirs)
    net, _ = demo_backbone(tmp_path, image_size=16)
    score = RegionScore(net, random_encoder(net.embed_dim, 12), [2, 5, 9]).eval()
    guided = sample(model, score, seeds=seeds, steps=2, scale=50.0, progress=False)
    assert guided.ok.all() and torch.isfinite(guided.images).all()
    assert not torch.equal(guided.images, ours.images)


def test_self_attention_guidance_reproduces_diffusers_sag_pipeline(tmp_path):
    """SAG with brain guidance 0: our loop against diffusers' StableDiffusionSAGPipeline (empty prompt, no
    classifier-free guidance, sag_scale 0.75, as BrainDiVE calls it) on a tiny pipeline, same seeds and
    DPM-Solver++ scheduler: bitwise equal; and SAG changes the images (it is not a no-op)."""
    from diffusers import StableDiffusionSAGPipeline

    pipe = tiny_stable_diffusion(tmp_path)
    model = from_pipeline(pipe)
    seeds = [0, 7]
    ours = sample(model, None, seeds=seeds, steps=3, scale=0.0, sag_scale=0.75, progress=False)
    sag = StableDiffusionSAGPipeline(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                                     unet=pipe.unet, scheduler=model.make_scheduler(), safety_checker=None,
                                     feature_extractor=None, requires_safety_checker=False)
    sag.set_progress_bar_config(disable=True)
    theirs = sag(prompt=[""] * 2, height=16, width=16, num_inference_steps=3, guidance_scale=0.0, sag_scale=0.75,
                 generator=_generators(seeds), output_type="pt").images
    assert torch.equal(ours.images, theirs)
    plain = sample(model, None, seeds=seeds, steps=3, scale=0.0, progress=False)
    assert (ours.images - plain.images).abs().max() > 1e-3
    # the attention processor is restored after sampling
    assert type(model.unet.mid_block.attentions[0].transformer_blocks[0].attn1.processor).__name__ != "_KeepAttention"


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_self_attention_guidance_in_the_guided_branch_equals_the_unguided_one_for_a_flat_score(prediction_type):
    """The guided branch applies SAG in ε (ε + s(ε − ε_degraded)); with a zero brain gradient it must give the
    unguided branch's SAG samples (applied to the raw output), on the pixel path (UNet2DModel's middle attention)."""
    model = tiny_pixel_model(prediction_type=prediction_type, beta_schedule="squaredcos_cap_v2")
    plain = sample(model, None, seeds=[1, 2], steps=6, scale=0.0, sag_scale=0.75, progress=False)
    guided = sample(model, _Flat(), seeds=[1, 2], steps=6, scale=100.0, sag_scale=0.75, progress=False)
    torch.testing.assert_close(guided.images, plain.images, rtol=0, atol=1e-4)
    off = sample(model, None, seeds=[1, 2], steps=6, scale=0.0, progress=False)
    assert (plain.images - off.images).abs().max() > 1e-3


def test_gaussian_blur_matches_diffusers_and_keeps_constants():
    from diffusers.pipelines.deprecated.stable_diffusion_sag.pipeline_stable_diffusion_sag import gaussian_blur_2d

    from cortexplorer.braindive.guidance import gaussian_blur

    x = torch.randn(2, 4, 12, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(gaussian_blur(x), gaussian_blur_2d(x, 9, 1.0))
    torch.testing.assert_close(gaussian_blur(torch.full((1, 3, 10, 10), 0.3)), torch.full((1, 3, 10, 10), 0.3))


def test_guidance_gradient_matches_finite_differences_of_the_score():
    """d S(x_t)/d x_t through the UNet's x̂0 prediction, the blend, the decoder, the backbone and the encoder."""
    import tempfile
    from pathlib import Path

    model = tiny_pixel_model()
    model.unet.double()
    with tempfile.TemporaryDirectory() as d:
        net, _ = demo_backbone(Path(d), image_size=16)
    score = RegionScore(net.double(), random_encoder(net.embed_dim, 10), [0, 3, 4, 8]).double().eval()
    model.decoder = _Float64Decoder()
    scheduler = model.make_scheduler()
    scheduler.set_timesteps(10)
    t = scheduler.timesteps[4]
    abar = scheduler.alphas_cumprod[t].double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.5

    def s_of(x_):
        from cortexplorer.braindive.guidance import blended_score

        with torch.no_grad():
            return blended_score(model, score, x_, t, abar)[0]

    _, grad, s0 = guidance_gradient(model, score, x, t, abar, scale=1.0)
    assert torch.allclose(s0, s_of(x))
    rng = np.random.default_rng(1)
    for _ in range(6):
        d = torch.as_tensor(rng.normal(size=x.shape))
        h = 1e-5
        numeric = (s_of(x + h * d) - s_of(x - h * d)) / (2 * h)
        analytic = (grad * d).sum(dim=(1, 2, 3))
        np.testing.assert_allclose(analytic.numpy(), numeric.numpy(), rtol=1e-5, atol=1e-9)


class _Float64Decoder(torch.nn.Module):
    def forward(self, x):
        return (x / 2 + 0.5).clamp(0, 1)


class _Brightness(torch.nn.Module):
    """A planted score: mean brightness of each image (row ``nan_row`` gives NaN)."""

    def __init__(self, nan_row: int | None = None):
        super().__init__()
        self.nan_row = nan_row
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, images):
        s = images.mean(dim=(1, 2, 3))
        if self.nan_row is not None:
            s = s * torch.where(torch.arange(len(s)) == self.nan_row, torch.nan, 1.0)
        return s


def test_guidance_moves_images_along_the_score_and_stops_only_non_finite_seeds(caplog):
    model = tiny_pixel_model()
    seeds = list(range(6))
    plain = sample(model, None, seeds=seeds, steps=8, progress=False)
    up = sample(model, _Brightness(), seeds=seeds, steps=8, scale=200.0, progress=False)
    down = sample(model, _Brightness(), seeds=seeds, steps=8, scale=-200.0, progress=False)
    b = [r.images.mean(dim=(1, 2, 3)) for r in (down, plain, up)]
    assert (b[0] < b[1]).all() and (b[1] < b[2]).all()
    broken = sample(model, _Brightness(nan_row=2), seeds=seeds, steps=8, scale=200.0, progress=False)
    assert list(broken.ok) == [True, True, False, True, True, True]
    assert "non-finite score" in broken.failed[2] and "seed 2 stopped" in caplog.text
    keep = np.array([0, 1, 3, 4, 5])
    assert torch.equal(broken.images[keep], up.images[keep])  # the others are untouched
    assert broken.uint8()[2].max() == 0
    with pytest.raises(ValueError, match="must be finite"):
        sample(model, _Brightness(), seeds=seeds, steps=2, scale=float("inf"), progress=False)
    # a scale that overflows float32 stops every seed, and the stage refuses to rank nothing
    blown = sample(model, _Brightness(), seeds=seeds[:3], steps=3, scale=1e39, progress=False)
    assert not blown.ok.any() and blown.failed[0] == "non-finite score or guidance gradient at step 1/3"
    with pytest.raises(FloatingPointError, match=r"Every seed of region 'FFA'.*guidance_scale = 1e\+39 is too large"):
        check_finished(blown, "FFA", 1e39)
    assert check_finished(broken, "FFA", 200.0).tolist() == [True, True, False, True, True, True]


def test_contrast_and_text_scores_on_known_answers(tmp_path):
    from cortexplorer.braindive.guidance import ContrastScore, TextScore

    net, _ = demo_backbone(tmp_path, image_size=16)
    enc = random_encoder(net.embed_dim, 6)
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a, b = RegionScore(net, enc, [0, 1]), RegionScore(net, enc, [4])
    with torch.no_grad():
        pred = enc(torch.nn.functional.normalize(net(images), dim=-1))
        torch.testing.assert_close(ContrastScore(a, b, 0.5)(images), pred[:, :2].mean(1) - 0.5 * pred[:, 4])
        emb = net(images)
        text = TextScore(net, 3 * emb[1])  # the text embedding of image 1 (any scale): cosine 1 with it
        torch.testing.assert_close(text(images)[1], torch.tensor(1.0))
        assert (text(images)[[0, 2]] < 1 - 1e-4).all()


def test_augmented_score_averages_crops_reproducibly():
    from cortexplorer.braindive.guidance import AugmentedScore

    mean = _Brightness()
    flat = torch.full((2, 3, 16, 16), 0.3)
    aug = AugmentedScore(mean, 5)
    torch.testing.assert_close(aug(flat), mean(flat))  # crops of a uniform image change nothing
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(2, 3, 16, 16).contiguous()
    aug.reset()
    first = aug(ramp)
    aug.reset()
    assert torch.equal(aug(ramp), first) and not torch.equal(aug(ramp), first)  # restarts, then draws anew
    assert torch.equal(first[0], first[1])  # the same crops for every image of a batch
    left = torch.where(torch.arange(16).view(1, 1, 1, 16) < 8, 1.0, 0.0).expand(1, 3, 16, 16)
    shifted = AugmentedScore(mean, 20, min_scale=0.5)(left)  # crops see more or less of the bright half
    assert 0.3 < shifted.item() < 0.7 and shifted.item() != 0.5


def test_rank_and_keep_keeps_the_top_fraction_of_finished_images():
    table = rank_and_keep([10, 11, 12, 13, 14, 15], np.array([0.1, 0.9, np.nan, 0.5, 0.7, 0.3]),
                          np.array([True, True, False, True, True, True]), keep_fraction=0.4)
    assert table["rank"].tolist() == [5, 1, 0, 3, 2, 4]
    assert table["kept"].tolist() == [False, True, False, False, True, False]


def test_region_voxels_refuses_empty_regions_and_masks_on_another_grid():
    enc = random_encoder(8, 20)  # voxels at the first 20 positions of a 4×4×4 grid
    data = np.zeros((4, 4, 4), dtype=np.uint8)
    data[3, 3, 3] = 1  # position 63: not an encoder voxel
    with pytest.raises(ValueError, match="has no voxels among the 20 voxels"):
        region_voxels(enc, nib.Nifti1Image(data, np.eye(4)), region="FFA", mask_path="m.nii.gz", encoder_path="e.pt")
    data[0, 1, 2] = 1  # position 6
    assert region_voxels(enc, nib.Nifti1Image(data, np.eye(4)), region="FFA", mask_path="m", encoder_path="e").tolist() == [6]
    shifted = np.eye(4)
    shifted[:3, 3] = 2.0
    with pytest.raises(ValueError, match=r"not on the voxel grid of the encoder 'e\.pt'.*affines differ"):
        region_voxels(enc, nib.Nifti1Image(data, shifted), region="FFA", mask_path="m", encoder_path="e.pt")
    with pytest.raises(ValueError, match=r"grid \(4, 4, 5\).*not on the voxel grid"):
        region_voxels(enc, nib.Nifti1Image(np.zeros((4, 4, 5), np.uint8), np.eye(4)), region="FFA", mask_path="m",
                      encoder_path="e")
    enc.affine = enc.shape = None  # an encoder without its grid: only the bounds can be checked
    with pytest.raises(ValueError, match="indexes voxels outside the grid"):
        region_voxels(enc, nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4)), region="V1", mask_path="m",
                      encoder_path="e")


def test_encoder_file_keeps_its_voxel_grid(tmp_path):
    from cortexplorer.encoder import VoxelEncoder

    enc = random_encoder(8, 5)
    enc.save(tmp_path / "e.pt")
    back = VoxelEncoder.load(tmp_path / "e.pt")
    assert torch.equal(back.affine, enc.affine) and back.shape.tolist() == [4, 4, 4]
    assert torch.equal(back.select([1, 2]).voxel_ijk, enc.voxel_ijk[1:3])


def test_zero_shot_labels_equal_a_direct_open_clip_computation():
    """The zero-shot path (NSD/BIDS: no oracle) against open_clip's own encode_image/encode_text on the same model."""
    from cortexplorer.braindive.evaluate import SEMANTIC_CATEGORIES, ZERO_SHOT_TEMPLATES, ZeroShotLabels
    from cortexplorer.models import open_clip_module
    from cortexplorer.models.backbone import DEMO_ARCH, OPENAI_MEAN, OPENAI_STD

    open_clip = open_clip_module()
    torch.manual_seed(3)
    model = open_clip.create_model(DEMO_ARCH, force_image_size=16).eval()
    tok = open_clip.get_tokenizer(DEMO_ARCH)
    labels = ZeroShotLabels(model, tok, {"image_size": 16, "mean": OPENAI_MEAN, "std": OPENAI_STD},
                            SEMANTIC_CATEGORIES)
    images = np.random.default_rng(0).integers(0, 256, size=(40, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)) \
            / torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
        img = torch.nn.functional.normalize(model.encode_image(x), dim=-1)
        text = torch.stack([torch.nn.functional.normalize(torch.nn.functional.normalize(
            model.encode_text(tok([t.format(c) for t in ZERO_SHOT_TEMPLATES])), dim=-1).mean(0), dim=0)
            for c in SEMANTIC_CATEGORIES])
    cosines = (img @ text.T).numpy()
    np.testing.assert_allclose(labels.scores(images), cosines, atol=1e-5)
    assert (labels(images) == np.asarray(SEMANTIC_CATEGORIES)[cosines.argmax(1)]).all()


def test_stable_diffusion_loads_from_a_local_hub_cache_only(tmp_path, monkeypatch):
    """The real loader reads every component from a Hugging Face cache (no network) and samples like the
    pipeline it was saved from; a model not in the cache is one clear error."""
    from cortexplorer.models.diffusion import load_diffusion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = tiny_stable_diffusion(tmp_path)
    revision = "1" * 40
    repo = tmp_path / "hub" / "models--someone--tiny-sd"
    pipe.save_pretrained(repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    spec = {"kind": "stable_diffusion", "model_id": "someone/tiny-sd", "revision": "main",
            "cache_dir": str(tmp_path / "hub")}
    loaded = load_diffusion(spec)
    assert loaded.identity == {"kind": "stable_diffusion", "model_id": "someone/tiny-sd", "revision": "main",
                               "commit": revision}
    assert loaded.kind == "latent" and loaded.sample_shape == (4, 8, 8)
    a = sample(loaded, None, seeds=[4], steps=2, progress=False)
    b = sample(from_pipeline(pipe), None, seeds=[4], steps=2, progress=False)
    torch.testing.assert_close(a.images, b.images)
    with pytest.raises(FileNotFoundError, match=r"'someone/other-sd'.*not in the local Hugging Face cache.*"
                                                r"huggingface-cli download someone/other-sd"):
        load_diffusion({**spec, "model_id": "someone/other-sd"})
    with pytest.raises(ValueError, match=r"Unknown braindive\.diffusion\.kind"):
        load_diffusion({"kind": "imagen"})


def test_settings_come_from_the_config_and_its_mode_defaults():
    from cortexplorer.braindive.settings import BrainDiVESettings, EvaluationSettings, SamplingSettings
    from cortexplorer.config import ConfigError, check_config, mode_default

    cfg = check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 3,
                        "braindive": {"n_seeds": 7, "first_seed": 2, "keep_fraction": 0.5}})
    s = BrainDiVESettings.from_config(cfg, region="faces")
    assert s.region == "faces" and s.keep_fraction == 0.5 and s.augmentations == 0
    assert s.guidance_scale == mode_default("demo", "braindive.guidance_scale")  # the mode's default, stated once
    assert s.sampling == SamplingSettings.from_config(cfg)
    assert s.sampling.seeds == [2, 3, 4, 5, 6, 7, 8] and s.sampling.seed == 3 and s.sampling.device == "auto"
    assert s.sampling.steps == mode_default("demo", "braindive.steps")
    assert s.backbone_spec == cfg["features"]["backbones"][s.backbone]
    ev = EvaluationSettings.from_config(cfg)
    assert ev.regions == tuple(mode_default("demo", "braindive.regions")) and ev.classifier is None  # the oracle
    assert s.sampling.sag_scale == mode_default("demo", "braindive.sag_scale")
    assert mode_default("real", "braindive.sag_scale") == 0.75  # BrainDiVE's released sampler
    chosen = check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 3, "braindive": {"sag_scale": 0.5}})
    assert SamplingSettings.from_config(chosen).sag_scale == 0.5
    with pytest.raises(ConfigError, match="sag_scale"):
        check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 3, "braindive": {"sag_scale": -1}})


def test_self_attention_guidance_refuses_a_unet_without_middle_attention():
    from diffusers import UNet2DModel

    from cortexplorer.braindive.guidance import SelfAttentionGuidance
    from cortexplorer.models.diffusion import DiffusionModel, PixelDecoder

    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 8), norm_num_groups=4,
                       down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2, add_attention=False)
    model = DiffusionModel(unet, {"prediction_type": "epsilon"}, PixelDecoder(), (3, 8, 8))
    with pytest.raises(ValueError, match=r"needs self-attention in the UNet's middle block.*braindive\.sag_scale to 0"):
        SelfAttentionGuidance(model, 0.75, model.make_scheduler())


def test_backbone_identity_check_names_the_config_key_and_the_difference():
    from cortexplorer.models.identity import check_same_backbone

    fitted = {"kind": "demo_clip", "arch": "x", "weights_sha256": "abc"}
    check_same_backbone(dict(fitted, embed_dim=8), fitted, encoder_path="e.pt", config_key="braindive.backbone")
    with pytest.raises(ValueError, match=r"'e\.pt'.*brainscuba\.backbone.*weights_sha256.*'zzz', 'abc'"):
        check_same_backbone(dict(fitted, weights_sha256="zzz"), fitted, encoder_path="e.pt",
                            config_key="brainscuba.backbone")


def test_unguided_comparison_on_known_answers():
    from cortexplorer.braindive.judge import UnguidedBaseline, category_share, true_effect

    labels = np.array(["face", "place", "face", "food"], dtype=object)
    assert category_share(labels, "face") == 0.5 and category_share(labels, "body") == 0.0
    assert np.isnan(category_share(np.zeros(0, dtype=object), "face"))
    effect = true_effect(3.0, np.array([1.0, 2.0, 3.0]))  # mean 2, SD (ddof 1) 1
    assert effect == {"true_unguided": 2.0, "true_unguided_sd": 1.0, "true_effect_sd": 1.0}
    assert np.isnan(true_effect(3.0, np.array([2.0, 2.0]))["true_effect_sd"])  # no spread: no effect size
    images = np.zeros((3, 4, 4, 3), np.uint8)
    base = UnguidedBaseline.judge(images, lambda x: np.array(["face"] * len(x), dtype=object), None)
    assert base.labels.tolist() == ["face"] * 3 and base.true is None and base.images is images
