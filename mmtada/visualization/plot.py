"""Matplotlib figures as RGB arrays (headless)."""
from typing import Callable

import numpy as np


def plot_rgb(draw: Callable, ncols: int = 1, size=(6, 3)) -> np.ndarray:
    """Call ``draw(*axes)`` on a row of ``ncols`` axes, each ``size``
    inches at 100 dpi, and return the figure as uint8 RGB (Agg backend,
    no display needed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, ncols, figsize=(size[0] * ncols, size[1]),
                             dpi=100, squeeze=False)
    draw(*axes[0])
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
