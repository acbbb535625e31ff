"""The SDEdit denoising loop shared by the pixel and latent generators."""
from typing import Callable, List

import torch


def start_steps(strength: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Per element, the index of the first step that denoises it (as
    diffusers img2img: ``num_steps - int(strength * num_steps)``)."""
    return num_steps - (strength * num_steps).floor().long()


@torch.no_grad()
def sdedit(x0: torch.Tensor, predict: Callable, scheduler,
           num_steps: int, strength: torch.Tensor,
           generators: List[torch.Generator]) -> torch.Tensor:
    """Noise ``x0`` part-way and denoise it back, with per-pixel strength.

    ``strength`` broadcasts to ``x0`` (e.g. ``(B, 1, H, W)``). The loop
    starts at the largest strength; until the step at which a region's own
    strength starts it, the region is overwritten with the original noised
    to the current timestep (RePaint / blended-diffusion style), and a
    region of strength 0 ends as ``x0`` exactly. Each image's noise comes
    from its own generator, so an image depends on its seed alone.

    Args:
        x0: clean samples in the model's space, ``(B, C, H, W)``.
        predict: ``predict(x, t) -> model output`` for the scheduler.
        scheduler: a diffusers scheduler (DDIM or DDPM).
        num_steps: denoising steps of the full schedule (strength 1).
        strength: in [0, 1].
        generators: one per image.
    """
    strength = strength.to(x0.device, torch.float32).expand(
        x0.shape[0], 1, *x0.shape[2:])
    scheduler.set_timesteps(num_steps, device=x0.device)
    timesteps = scheduler.timesteps
    first = int(start_steps(strength, num_steps).min())
    if first >= num_steps:
        return x0.clone()
    start = start_steps(strength, num_steps)
    keep_some = bool((start > first).any())

    def noise():
        # On CPU from each image's own generator: device-independent draws.
        return torch.stack([
            torch.randn(x0.shape[1:], generator=g) for g in generators
        ]).to(x0.device, x0.dtype)

    x = scheduler.add_noise(x0, noise(), timesteps[first:first + 1])
    for i in range(first, num_steps):
        t = timesteps[i]
        if keep_some:
            frozen = start > i
            if frozen.any():
                x = torch.where(frozen,
                                scheduler.add_noise(x0, noise(), t[None]), x)
        out = predict(scheduler.scale_model_input(x, t), t)
        x = scheduler.step(out, t, x, generator=generators).prev_sample
    return torch.where(start >= num_steps, x0, x)
