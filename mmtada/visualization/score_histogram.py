"""The histogram of per-sample selection scores."""
import numpy as np

from .plot import plot_rgb


def score_histogram(scores, selected, title: str = '',
                    bins: int = 40) -> np.ndarray:
    """An RGB image: the scores of the selected and of the other samples
    stacked in one histogram, and a dashed line at the lowest selected
    score (the threshold the rule effectively drew). NaN scores (unseen
    samples) are left out."""
    scores = np.asarray(scores, float)
    selected = np.asarray(selected, bool)
    known = ~np.isnan(scores)

    def draw(ax):
        values = scores[known]
        edges = np.histogram_bin_edges(values, bins=bins) if len(values) \
            else bins
        ax.hist([scores[known & ~selected], scores[known & selected]],
                bins=edges, stacked=True, color=['#9aa5b1', '#d9480f'],
                label=[f'not selected ({int((known & ~selected).sum())})',
                       f'selected ({int((known & selected).sum())})'])
        if (known & selected).any():
            ax.axvline(scores[known & selected].min(), color='k', ls='--',
                       lw=1, label='lowest selected score')
        ax.set_xlabel('score')
        ax.set_ylabel('samples')
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return plot_rgb(draw, size=(5, 3))
