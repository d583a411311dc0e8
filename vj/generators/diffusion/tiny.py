"""Random-weight pipelines built offline: tiny SD and SDXL ones for tests, the sd-turbo architecture for benchmarks.

Both are saved with ``save_pretrained`` so tests and benchmarks load them through the same loader
that loads real checkpoints (speed does not depend on the weights, and correctness tests only need
the same classes and the same maths). Nothing here touches the network.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: sd-turbo's published configs (stabilityai/sd-turbo: unet, vae, text_encoder, scheduler),
#: written out so the architecture can be built without downloading anything.
SD_TURBO_UNET: dict[str, Any] = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280), "attention_head_dim": (5, 10, 20, 20),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 1024, "use_linear_projection": True, "norm_num_groups": 32,
    "flip_sin_to_cos": True, "freq_shift": 0, "act_fn": "silu",
}
SD_TURBO_VAE: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512), "norm_num_groups": 32, "sample_size": 768,
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4,
    "scaling_factor": 0.18215,
}
SD_TURBO_TEXT: dict[str, Any] = {
    "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 23,
    "projection_dim": 512, "hidden_act": "gelu", "max_position_embeddings": 77, "layer_norm_eps": 1e-5,
}
SD_TURBO_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "timestep_spacing": "trailing", "steps_offset": 1,
    "interpolation_type": "linear",
}
#: TAESD (madebyollin/taesd) as diffusers' AutoencoderTiny defaults describe it.
TAESD: dict[str, Any] = {
    "encoder_block_out_channels": (64, 64, 64, 64), "decoder_block_out_channels": (64, 64, 64, 64),
    "num_encoder_blocks": (1, 3, 3, 3), "num_decoder_blocks": (3, 3, 3, 1), "latent_channels": 4,
}


def _write_tokenizer(folder: Path, max_length: int, pad_token: str = "<|endoftext|>") -> int:
    """A byte-level CLIP tokenizer whose vocabulary and merges we write ourselves (no download).

    ``pad_token`` is CLIP's end token by default; SDXL's second tokenizer pads with "!" (as the real
    one does). Returns the vocabulary size, so the text encoder can be sized to it."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for symbol in alphabet + [s + "</w>" for s in alphabet]:
        vocab[symbol] = len(vocab)
    # A few merges so common words become one token, as in a real CLIP vocabulary.
    merges = []
    for word in ("the", "and", "of", "in", "storm", "bird", "light"):
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            merges.append((pieces[0], pieces[1]))
            vocab.setdefault(merged, len(vocab))
            pieces = [merged] + pieces[2:]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length, pad_token=pad_token)
    tokenizer.save_pretrained(folder)
    return len(vocab)


def _scheduler(kind: str, config: dict[str, Any]):
    from diffusers import EulerDiscreteScheduler, LCMScheduler

    if kind == "lcm":
        return LCMScheduler(**{k: v for k, v in config.items() if k not in ("interpolation_type",)})
    return EulerDiscreteScheduler(**config)


def build_tiny_pipeline(folder: Path, *, seed: int = 0, scheduler: str = "euler",
                        tiny_vae_folder: Path | None = None) -> Path:
    """A randomly initialised, tiny Stable Diffusion pipeline of the real classes, saved to ``folder``.

    The VAE downsamples by 8 like the real one; the tokenizer pads to 77 tokens like CLIP's, so size
    checks and truncation behave as with real models. The VAE posterior is made near-deterministic
    (log-variance −30), as a trained VAE's is in practice, so sampling it and taking its mean agree.
    If ``tiny_vae_folder`` is given, a tiny AutoencoderTiny (TAESD's classes) is saved there too.
    """
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vocab_size = _write_tokenizer(folder / "tokenizer", 77)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, projection_dim=32))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, block_out_channels=(8, 8, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, sample_size=64)
    with torch.no_grad():  # log-variance channels of the posterior: constant −30 (std ≈ 3e-7)
        vae.quant_conv.weight[4:].zero_()
        vae.quant_conv.bias[4:].fill_(-30.0)
    pipe = StableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=_scheduler(scheduler, SD_TURBO_SCHEDULER), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.save_pretrained(folder)
    if tiny_vae_folder is not None:
        AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1),
                        latent_channels=4).save_pretrained(tiny_vae_folder)
    log.info("built tiny pipeline in %s", folder)
    return folder


def build_tiny_sdxl_pipeline(folder: Path, *, seed: int = 0, tiny_vae_folder: Path | None = None) -> Path:
    """A randomly initialised, tiny SDXL pipeline of the real classes (``StableDiffusionXLImg2ImgPipeline``:
    two CLIP text encoders, the second with a projection, and a UNet with SDXL's "text_time" added
    conditioning), saved to ``folder``.

    Shaped like sdxl-turbo where it matters: the UNet's added embedding takes the second encoder's
    pooled vector plus six time ids (original size, crop, target size; no aesthetic score), the
    cross-attention width is the two encoders' widths side by side, the second tokenizer pads with
    "!". Like ``build_tiny_pipeline``, the VAE posterior is near-deterministic and ``tiny_vae_folder``
    gets a tiny AutoencoderTiny (TAESDXL's classes)."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    encoders = []
    for name, pad, hidden, model_class in (("tokenizer", "<|endoftext|>", 32, CLIPTextModel),
                                           ("tokenizer_2", "!", 32, CLIPTextModelWithProjection)):
        vocab_size = _write_tokenizer(folder / name, 77, pad_token=pad)
        tokenizer = CLIPTokenizer.from_pretrained(folder / name)
        encoder = model_class(CLIPTextConfig(
            vocab_size=vocab_size, hidden_size=hidden, intermediate_size=64, num_attention_heads=4,
            num_hidden_layers=3, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, projection_dim=32,
            hidden_act="gelu"))
        encoders.append((tokenizer, encoder))
    (tokenizer, text_encoder), (tokenizer_2, text_encoder_2) = encoders
    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=text_encoder.config.hidden_size + text_encoder_2.config.hidden_size,
        attention_head_dim=(2, 4), transformer_layers_per_block=(1, 2), use_linear_projection=True,
        norm_num_groups=8, addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + text_encoder_2.config.projection_dim)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, block_out_channels=(8, 8, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, sample_size=64, scaling_factor=0.13025, force_upcast=True)
    with torch.no_grad():  # log-variance channels of the posterior: constant −30 (std ≈ 3e-7)
        vae.quant_conv.weight[4:].zero_()
        vae.quant_conv.bias[4:].fill_(-30.0)
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=_scheduler("euler", SD_TURBO_SCHEDULER),
        requires_aesthetics_score=False, force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.save_pretrained(folder)
    if tiny_vae_folder is not None:
        AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1),
                        latent_channels=4).save_pretrained(tiny_vae_folder)
    log.info("built tiny SDXL pipeline in %s", folder)
    return folder


def sd_turbo_random_pipeline(*, seed: int = 0, tokenizer_folder: Path | None = None) -> Any:
    """sd-turbo's architecture (published configs) with random weights, in memory.

    For benchmarks: speed does not depend on the weights. The tokenizer is a byte-level one we
    write ourselves (token ids differ from CLIP's; lengths and shapes do not)."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(tokenizer_folder or scratch)
        _write_tokenizer(folder, 77)
        tokenizer = CLIPTokenizer.from_pretrained(folder)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **SD_TURBO_TEXT))
    return StableDiffusionImg2ImgPipeline(
        vae=AutoencoderKL(**SD_TURBO_VAE), text_encoder=text_encoder, tokenizer=tokenizer,
        unet=UNet2DConditionModel(**SD_TURBO_UNET), scheduler=_scheduler("euler", SD_TURBO_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def taesd_random(*, seed: int = 0) -> Any:
    """TAESD's architecture (AutoencoderTiny) with random weights."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    return AutoencoderTiny(**TAESD)


def build_tiny_lora(model_folder: Path, folder: Path, *, seed: int = 0, rank: int = 4) -> Path:
    """A random LoRA for the tiny model's UNet attention, saved the way diffusers saves LoRAs."""
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(Path(model_folder) / "unet")
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionImg2ImgPipeline.save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)
    return Path(folder)
