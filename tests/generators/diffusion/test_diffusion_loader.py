"""The one loader: tiny models load like real ones; missing, corrupt and bad-size cases speak clearly."""
from __future__ import annotations

import shutil

import pytest

from vj.generators.base import GeneratorContext, GeneratorError
from vj.generators.diffusion.generator import DiffusionGenerator
from vj.generators.diffusion.loader import ModelNotFoundError, check_size, load_model, model_family


def test_tiny_model_loads_through_the_loader(loaded, tiny_model):
    assert loaded.family == "sd" == model_family(tiny_model)
    assert loaded.vae_scale_factor == 8
    assert type(loaded.unet).__name__ == "UNet2DConditionModel"
    assert loaded.dtype.is_floating_point and str(loaded.dtype) == "torch.float32"  # fp32 on the CPU


def test_tiny_vae_loads_from_a_folder(tiny_model, tiny_taesd):
    model = load_model(str(tiny_model), device="cpu", vae="tiny", tiny_vae_path=str(tiny_taesd))
    assert type(model.vae).__name__ == "AutoencoderTiny" and model.vae_scale_factor == 8


def test_missing_model_id_says_what_where_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as caught:
        load_model("vj-test/no-such-model", device="cpu")
    message = str(caught.value)
    assert "vj-test/no-such-model" in message
    assert "models--vj-test--no-such-model" in message          # where it looked
    assert "huggingface-cli download vj-test/no-such-model" in message
    assert "--allow-download" in message


def test_missing_folder_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_model(str(tmp_path / "nowhere"), device="cpu")


def test_corrupt_model_folder_is_a_clear_error(tiny_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(GeneratorError, match="corrupt or incomplete") as caught:
        load_model(str(broken), device="cpu")
    assert not isinstance(caught.value, ModelNotFoundError)


def test_folder_without_model_index(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorError, match="model_index.json"):
        load_model(str(tmp_path / "empty"), device="cpu")


@pytest.mark.parametrize("width,height", [(60, 64), (64, 100)])
def test_bad_size_fails_at_prepare(tiny_model, width, height):
    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    with pytest.raises(GeneratorError, match="multiples of 8"):
        generator.prepare(GeneratorContext(width=width, height=height))


def test_tensorrt_sizes_need_whole_unet_maps(loaded):
    check_size(loaded, 64, 64, static_shapes=True)
    with pytest.raises(GeneratorError, match="multiples of 16"):
        check_size(loaded, 72, 64, static_shapes=True)


def test_unknown_options_are_refused():
    with pytest.raises(GeneratorError):
        DiffusionGenerator("x", vae="huge")
    with pytest.raises(GeneratorError):
        DiffusionGenerator("x", accelerator="warp")


def test_tiny_sdxl_model_loads_through_the_loader(loaded_sdxl, tiny_sdxl):
    assert loaded_sdxl.family == "sdxl" == model_family(tiny_sdxl)
    assert type(loaded_sdxl.text_encoder).__name__ == "CLIPTextModel"
    assert type(loaded_sdxl.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert loaded_sdxl.tokenizer_2.pad_token == "!" and loaded_sdxl.tokenizer.pad_token == "<|endoftext|>"
    assert loaded_sdxl.unet.config.addition_embed_type == "text_time"
    assert loaded_sdxl.text_dim == 64 == loaded_sdxl.unet.config.cross_attention_dim and loaded_sdxl.pooled_dim == 32
    assert loaded_sdxl.zero_empty_negative and loaded_sdxl.vae_dtype is None
    assert loaded_sdxl.vae_scale_factor == 8 and loaded_sdxl.scaling_factor == pytest.approx(0.13025)
    assert str(loaded_sdxl.dtype) == "torch.float32"  # fp32 on the CPU
    assert not loaded_sdxl.text_encoder_2.training and not loaded_sdxl.unet.training


def test_sdxl_tiny_vae_loads_from_a_folder(tiny_sdxl, tiny_taesdxl):
    model = load_model(str(tiny_sdxl), device="cpu", vae="tiny", tiny_vae_path=str(tiny_taesdxl))
    assert type(model.vae).__name__ == "AutoencoderTiny" and model.vae_scale_factor == 8


def test_sdxl_in_fp16_keeps_its_full_vae_in_fp32(tiny_sdxl):
    """SDXL's VAE overflows in fp16 (diffusers upcasts it on every call): the loader keeps it in fp32."""
    import torch

    model = load_model(str(tiny_sdxl), device="cpu", dtype=torch.float16)
    assert next(model.unet.parameters()).dtype == torch.float16
    assert next(model.text_encoder_2.parameters()).dtype == torch.float16
    assert next(model.vae.parameters()).dtype == torch.float32 and model.vae_dtype == torch.float32


def test_sdxl_refiner_is_refused_before_loading(tmp_path):
    folder = tmp_path / "refiner"
    folder.mkdir()
    (folder / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionXLImg2ImgPipeline", "requires_aesthetics_score": true, '
        '"text_encoder": [null, null], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]}')
    with pytest.raises(GeneratorError, match="refiner"):
        load_model(str(folder), device="cpu")


def test_lora_is_fused_at_its_scale(tiny_model, loaded, tmp_path):
    pytest.importorskip("peft")
    import torch

    from vj.generators.diffusion.tiny import build_tiny_lora

    lora = build_tiny_lora(tiny_model, tmp_path / "lora")
    fused = load_model(str(tiny_model), device="cpu", lora=str(lora), lora_scale=1.0)
    off = load_model(str(tiny_model), device="cpu", lora=str(lora / "pytorch_lora_weights.safetensors"),
                     lora_scale=0.0)
    key = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    base = loaded.unet.state_dict()[key]
    assert not torch.allclose(fused.unet.state_dict()[key], base)
    assert torch.allclose(off.unet.state_dict()[key], base)
    assert not any("lora" in name for name in fused.unet.state_dict())   # adapters dropped after fusing


def test_bad_lora_is_a_clear_error(tiny_model, tmp_path):
    pytest.importorskip("peft")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "pytorch_lora_weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(GeneratorError, match="LoRA"):
        load_model(str(tiny_model), device="cpu", lora=str(tmp_path / "junk"))
