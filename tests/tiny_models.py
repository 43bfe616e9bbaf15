"""The real architectures at tiny sizes with random weights, built from configs (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from cortexplorer.encoder import VoxelEncoder
from cortexplorer.models import BackboneSpec, load_backbone, open_clip_module
from cortexplorer.models.diffusion import DiffusionModel, PixelDecoder, build_pixel_unet, dpm_solver_config


def demo_backbone(tmp_path: Path, image_size: int = 16, seed: int = 1):
    """The demo CLIP architecture with random weights, loaded through the real backbone code path."""
    from cortexplorer.io.torchfile import save_torch
    from cortexplorer.models.backbone import DEMO_ARCH

    torch.manual_seed(seed)
    model = open_clip_module().create_model(DEMO_ARCH, force_image_size=image_size)
    path = tmp_path / "clip.pt"
    save_torch({"arch": DEMO_ARCH, "image_size": image_size, "state_dict": model.state_dict()}, path)
    net = load_backbone(BackboneSpec.from_config("democlip", {"kind": "demo_clip"}), demo_weights=path)
    return net.requires_grad_(False), path


def random_encoder(embed_dim: int, n_voxels: int, seed: int = 0, identity: dict | None = None) -> VoxelEncoder:
    rng = np.random.default_rng(seed)
    ijk = np.stack(np.unravel_index(np.arange(n_voxels), (4, 4, 4)), axis=1)
    return VoxelEncoder(torch.as_tensor(rng.normal(size=(embed_dim, n_voxels)), dtype=torch.float32),
                        torch.as_tensor(rng.normal(size=n_voxels), dtype=torch.float32), torch.as_tensor(ijk),
                        torch.ones(n_voxels), identity, torch.eye(4, dtype=torch.float64),
                        torch.tensor([4, 4, 4]))


def tiny_pixel_model(size: int = 8, seed: int = 0, **schedule) -> DiffusionModel:
    """A tiny pixel model; ``schedule``: DDPMScheduler settings (e.g. ``prediction_type="v_prediction"``)."""
    from diffusers import DDPMScheduler

    torch.manual_seed(seed)
    unet = build_pixel_unet(sample_size=size, channels=(8, 16), layers_per_block=1).eval().requires_grad_(False)
    return DiffusionModel(unet=unet, scheduler_config=dpm_solver_config(DDPMScheduler(**schedule).config, pixel=True),
                          decoder=PixelDecoder(), sample_shape=(3, size, size), identity={"kind": "tiny"})


def tiny_clip_tokenizer(folder: Path):
    """A CLIPTokenizer from a hand-written byte-level vocabulary (no download)."""
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)


def tiny_stable_diffusion(tmp_path: Path, seed: int = 0):
    """``StableDiffusionPipeline`` with the real components at tiny size (16 px images, 8 px latents)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), norm_num_groups=8, cross_attention_dim=16,
                                attention_head_dim=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16), latent_channels=4,
                        norm_num_groups=8, layers_per_block=1, sample_size=16,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=60, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=16, bos_token_id=0,
                                        eos_token_id=1, pad_token_id=1))
    # Stable Diffusion 2.1-base's scheduler settings
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tiny_clip_tokenizer(tmp_path / "tok"),
                                   unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    for m in (unet, vae, text):
        m.eval().requires_grad_(False)
    return pipe


def tiny_gpt2_folder(folder: Path, n_embd: int = 16, n_layer: int = 1, n_head: int = 2):
    """A local GPT-2 folder (config + byte-level BPE tokenizer with a hand-written vocabulary), as
    ``huggingface-cli download gpt2 --local-dir`` leaves it, at tiny size (no download)."""
    from transformers import GPT2Config

    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [".", ",", "Ġ"]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    config = GPT2Config(vocab_size=len(vocab), n_positions=96, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                        bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1)
    config.save_pretrained(folder)
    return config


def tiny_clipcap_checkpoint(path: Path, config, prefix_size: int, prefix_length: int = 10, seed: int = 0) -> None:
    """A CLIPCap-format state dict with random weights, saved as older transformers did (with the
    ``attn.bias``/``attn.masked_bias`` buffers that newer versions no longer have)."""
    from cortexplorer.brainscuba.captioner import ClipCaptionModel

    torch.manual_seed(seed)
    model = ClipCaptionModel(prefix_length, prefix_size, config)
    state = dict(model.state_dict())
    n = config.n_positions
    for i in range(config.n_layer):
        state[f"gpt.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(n, n, dtype=torch.uint8)).view(1, 1, n, n)
        state[f"gpt.transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(state, path)


def tiny_real_models(folder: Path) -> dict[str, str]:
    """The real model kinds at tiny size, as config values (YAML flow style) that load them offline: ``clip``
    (an open_clip architecture with its weights as a file), ``diffusion`` (Stable Diffusion's components in a
    Hugging Face hub cache) and ``networks`` (a torchvision VGG11, the architecture eccNET and the triplets use)."""
    import torchvision

    weights = folder / "tiny_clip.pt"
    torch.manual_seed(0)
    torch.save(open_clip_module().create_model("cortexplorer-demo-clip").state_dict(), weights)
    revision = "2" * 40
    sd_repo = folder / "hub" / "models--someone--tiny-sd"
    tiny_stable_diffusion(folder / "sd").save_pretrained(sd_repo / "snapshots" / revision)
    (sd_repo / "refs").mkdir()
    (sd_repo / "refs" / "main").write_text(revision)
    vgg_weights = folder / "vgg11.pth"
    torch.save(torchvision.models.vgg11(weights=None).state_dict(), vgg_weights)
    return {"clip": f"{{kind: open_clip, arch: cortexplorer-demo-clip, pretrained: '{weights}'}}",
            "diffusion": "{kind: stable_diffusion, model_id: someone/tiny-sd, revision: main, "
                         f"cache_dir: '{folder / 'hub'}'}}",
            "networks": f"{{vgg: {{kind: torchvision, arch: vgg11, weights: '{vgg_weights}'}}}}"}
