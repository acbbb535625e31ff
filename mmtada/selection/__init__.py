from .base_rule import BaseSelectionRule
from .instance_index import InstanceIndex
from .instance_matching import box_iou, match_instances
from .instance_selection import select_images
from .kmeans_rule import KMeansRule
from .lag_stats import LagStats
from .loss_quantile_rule import LossQuantileRule
from .misclassified_rule import MisclassifiedRule
from .random_rule import AllRule, RandomRule
from .selection import Selection, select_samples

__all__ = [
    'AllRule', 'BaseSelectionRule', 'InstanceIndex', 'KMeansRule',
    'LossQuantileRule', 'MisclassifiedRule', 'LagStats', 'RandomRule',
    'Selection', 'box_iou',
    'match_instances', 'select_images', 'select_samples'
]
