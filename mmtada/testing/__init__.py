from .tiny_diffusion import save_tiny_latent_model, save_tiny_pixel_model

__all__ = ['save_tiny_latent_model', 'save_tiny_pixel_model']
