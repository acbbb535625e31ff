from .base_rule import BaseSelectionRule
from .kmeans_rule import KMeansRule, two_means
from .lag_stats import LagStats
from .loss_quantile_rule import LossQuantileRule
from .misclassified_rule import MisclassifiedRule
from .selection import Selection, select_samples

__all__ = [
    'BaseSelectionRule', 'KMeansRule', 'LossQuantileRule',
    'MisclassifiedRule', 'LagStats', 'Selection', 'select_samples',
    'two_means'
]
