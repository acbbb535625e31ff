"""A config's pipelines, as the probe, the variant filter and the tools
read images."""
import copy
from typing import List


def config_test_pipeline(cfg) -> List[dict]:
    """The config's test (else val) pipeline, a copy."""
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset', {}).get('pipeline') is not None:
            return copy.deepcopy(list(loader['dataset']['pipeline']))
    raise ValueError(
        'the learning-lag probe runs the training images through the test '
        'pipeline, but the config has neither test_dataloader nor '
        'val_dataloader with a dataset pipeline; add one.')
