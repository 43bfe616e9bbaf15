"""The demo diffusion model's training objective, against diffusers and the x0 form of Min-SNR."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from cortexplorer.config import check_config
from cortexplorer.models.demo_diffusion import (
    DemoDiffusionSettings,
    diffusion_loss,
    fit_demo_diffusion,
)
from cortexplorer.models.diffusion import dpm_solver_config


def _batch(schedule: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule=schedule)
    x0 = torch.rand((6, 3, 4, 4), generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([0, 10, 200, 500, 900, 999])
    abar = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    return sched, x0, noise, t, abar


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
def test_v_target_is_diffusers_velocity(schedule):
    sched, x0, noise, t, abar = _batch(schedule)
    v = sched.get_velocity(x0, noise, t)
    assert diffusion_loss(v, x0, noise, abar, "v_prediction", None).item() == pytest.approx(0.0, abs=1e-12)
    assert diffusion_loss(noise, x0, noise, abar, "epsilon", None).item() == 0.0
    out = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    assert diffusion_loss(out, x0, noise, abar, "v_prediction", None).item() == pytest.approx(
        torch.nn.functional.mse_loss(out, v).item(), rel=1e-6)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_min_snr_weights_the_implied_clean_image_error(prediction_type):
    """Min-SNR-γ is min(SNR, γ) times the squared error of the clean image the output implies, in both forms."""
    _, x0, noise, _, abar = _batch("squaredcos_cap_v2")
    gamma = 5.0
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    out = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64).float()
    if prediction_type == "epsilon":
        x0_hat = (xt - (1 - abar).sqrt() * out) / abar.sqrt()
    else:
        x0_hat = abar.sqrt() * xt - (1 - abar).sqrt() * out
    snr = (abar / (1 - abar)).view(-1)
    brute = (torch.clamp(snr, max=gamma) * (x0_hat - x0).pow(2).mean(dim=(1, 2, 3))).mean()
    loss = diffusion_loss(out, x0, noise, abar, prediction_type, gamma)
    assert loss.item() == pytest.approx(brute.item(), rel=1e-4)


def test_unknown_prediction_type_is_refused():
    _, x0, noise, _, abar = _batch("linear")
    with pytest.raises(ValueError, match="prediction_type must be 'epsilon' or 'v_prediction', not 'sample'"):
        diffusion_loss(noise, x0, noise, abar, "sample", None)


def test_the_sampler_gets_the_objective_and_schedule_the_model_was_trained_with():
    base = DemoDiffusionSettings.from_config(check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 7}))
    s = dataclasses.replace(base, image_size=8, channels=(8, 8), steps=2, batch_size=4, warmup_steps=1,
                            prediction_type="v_prediction", noise_schedule="squaredcos_cap_v2", snr_gamma=5.0,
                            device="cpu")
    fit = fit_demo_diffusion(torch.zeros((4, 3, 8, 8)), s)
    solver = dpm_solver_config(fit.noise_schedule.config, pixel=True)
    assert solver["prediction_type"] == "v_prediction" and solver["beta_schedule"] == "squaredcos_cap_v2"
    assert np.isfinite(fit.curve["loss"]).all()


class _Recorder(torch.nn.Module):
    """Stands in for the UNet: records what it is given and returns it (with ``.sample``, as diffusers does)."""

    def forward(self, x, t):
        self.seen = x.clone()
        return type("Out", (), {"sample": x})()


def test_patch_unet_stacks_each_patch_in_channels_and_unstacks_the_output():
    from cortexplorer.models.diffusion import PatchedUNet

    p = 2
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    inner = _Recorder()
    out = PatchedUNet(inner, p)(x, torch.zeros(2)).sample
    assert torch.equal(out, x)  # stacking then unstacking is the identity
    seen = inner.seen
    assert seen.shape == (2, 3 * p * p, 2, 3)
    for c in range(3):  # brute force: pixel (r, q) of channel c sits at channel c·p² + (r mod p)·p + (q mod p)
        for r in range(4):
            for q in range(6):
                assert seen[1, c * p * p + (r % p) * p + q % p, r // p, q // p] == x[1, c, r, q]
    with pytest.raises(ValueError, match=r"Images of \(4, 5\) px do not split into 2×2 patches"):
        PatchedUNet(inner, p)(torch.zeros(1, 3, 4, 5), torch.zeros(1))


def test_patch_unet_runs_at_a_fraction_of_the_resolution_and_refuses_a_side_it_cannot_split():
    from cortexplorer.models.diffusion import PatchedUNet, build_pixel_unet, pixel_unet_parts

    net = build_pixel_unet(sample_size=16, channels=(8, 16), patch_size=4)
    unet, patch = pixel_unet_parts(net)
    assert isinstance(net, PatchedUNet) and patch == 4
    assert (unet.config.sample_size, unet.config.in_channels, unet.config.out_channels) == (4, 48, 48)
    assert net(torch.zeros(2, 3, 16, 16), torch.tensor([1, 500])).sample.shape == (2, 3, 16, 16)
    plain = build_pixel_unet(sample_size=16, channels=(8, 16))
    assert pixel_unet_parts(plain) == (plain, 1) and plain.config.in_channels == 3
    with pytest.raises(ValueError, match=r"demo_diffusion\.image_size 18 is not a multiple of patch_size 4"):
        build_pixel_unet(sample_size=18, channels=(8, 16), patch_size=4)


@pytest.mark.parametrize("patch_size", [1, 2])
def test_weight_file_round_trip_gives_the_trained_model(tmp_path, patch_size):
    """The saved blob (save_torch, then load_demo_diffusion as the stages read it) rebuilds a sampler whose UNet gives the trained outputs."""
    from cortexplorer.io.torchfile import save_torch
    from cortexplorer.models.demo_diffusion import weights_blob
    from cortexplorer.models.diffusion import PatchedUNet, load_demo_diffusion

    base = DemoDiffusionSettings.from_config(check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 7}))
    s = dataclasses.replace(base, image_size=8, channels=(8, 8), steps=3, batch_size=4, warmup_steps=1,
                            patch_size=patch_size, device="cpu")
    data = torch.rand((4, 3, 8, 8), generator=torch.Generator().manual_seed(0)) * 2 - 1
    fit = fit_demo_diffusion(data, s)
    blob = weights_blob(fit, s.image_size)
    assert ("patch_size" in blob) == (patch_size > 1)  # a plain pixel UNet's file keeps its old keys
    save_torch(blob, tmp_path / "model.pt")
    model = load_demo_diffusion(tmp_path / "model.pt")
    assert model.sample_shape == (3, 8, 8)
    assert isinstance(model.unet, PatchedUNet) == (patch_size > 1)
    x, t = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([10, 700])
    with torch.no_grad():
        # equal up to float summation order (oneDNN may pick another kernel for a freshly loaded conv: 5e-7 seen)
        torch.testing.assert_close(model.unet(x, t).sample, fit.unet(x, t).sample, rtol=0, atol=1e-5)
