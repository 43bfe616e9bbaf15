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
