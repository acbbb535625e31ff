"""Tiny random-weight diffusion models, built from configs and saved with
``save_pretrained``: what tests and CPU benchmarks load with the same
``from_pretrained`` code users run on real weights."""
import json
import os
import os.path as osp


def save_tiny_pixel_model(folder: str, resolution: int = 16,
                          num_classes: int = 10, seed: int = 0) -> str:
    """A class-conditional ``UNet2DModel`` + DDPM scheduler
    (``DDPMPipeline`` layout). ``num_classes=0``: unconditional."""
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=resolution, in_channels=3, out_channels=3,
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
        down_block_types=('DownBlock2D', 'AttnDownBlock2D'),
        up_block_types=('AttnUpBlock2D', 'UpBlock2D'),
        num_class_embeds=num_classes or None)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(
        num_train_timesteps=1000)).save_pretrained(folder)
    return folder


def _write_tokenizer(folder: str) -> None:
    """A CLIP BPE tokenizer over single characters (vocab + merges)."""
    chars = list('abcdefghijklmnopqrstuvwxyz0123456789')
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1, '!': 2}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + '</w>'] = len(vocab)
    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, 'vocab.json'), 'w') as f:
        json.dump(vocab, f)
    with open(osp.join(folder, 'merges.txt'), 'w') as f:
        f.write('#version: 0.2\n')


def save_tiny_latent_model(folder: str, resolution: int = 32,
                           seed: int = 0, unet_channels=(16, 32),
                           text_width: int = 32) -> str:
    """A Stable-Diffusion-shaped pipeline (VAE, CLIP text encoder and
    tokenizer, conditional UNet, DDIM scheduler), a few MB. Other
    ``unet_channels`` or ``text_width`` make another base model (what a
    LoRA or a token learned on this one does not fit)."""
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler,
                           StableDiffusionImg2ImgPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
        down_block_types=('DownEncoderBlock2D', 'DownEncoderBlock2D'),
        up_block_types=('UpDecoderBlock2D', 'UpDecoderBlock2D'),
        sample_size=resolution)
    unet = UNet2DConditionModel(
        sample_size=resolution // 2, in_channels=4, out_channels=4,
        block_out_channels=tuple(unet_channels), layers_per_block=1,
        norm_num_groups=8, cross_attention_dim=text_width,
        attention_head_dim=4,
        down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'))
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=80, hidden_size=text_width,
        intermediate_size=2 * text_width,
        num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=1))
    tok_dir = osp.join(folder, '_tokenizer_src')
    _write_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77)
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule='scaled_linear',
        beta_start=0.00085, beta_end=0.012, clip_sample=False,
        set_alpha_to_one=False, steps_offset=1)
    StableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False).save_pretrained(folder)
    import shutil
    shutil.rmtree(tok_dir)
    return folder
