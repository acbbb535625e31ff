"""Learning lag of ground-truth instances, for mmdet detectors."""
from mmtada.engine.instance_lag_tracker import InstanceLagTracker
from mmtada.registry import HOOKS
from .learning_lag_hook import LearningLagHook


@HOOKS.register_module()
class DetLearningLagHook(LearningLagHook):
    """TADA for detection: the images whose instances the detector has not
    learned early get box-preserving variants.

    :class:`LearningLagHook` with an
    :class:`~mmtada.engine.InstanceLagTracker`: every ``probe_interval``
    epochs up to ``select_epoch`` an eval-mode probe (split across ranks)
    scores every ground-truth instance; the ``rule`` runs on the instances
    (``'kmeans'`` per class, ``'unlearned'``, ...) and an image is selected
    when ``min_instances`` of its instances are. ``selection.json`` holds
    the per-instance detail. Use a box-preserving generator
    (``mmtada.BoxPreservingSDEdit``) so that the annotations still hold.

    Args:
        iou_thr (float): IoU for a prediction to find an instance.
            Defaults to 0.5.
        score_thr (float): score for a found instance to count as learned.
            Defaults to 0.3.
        aggregate (str): per-image score: ``'max'``, ``'mean'``, ``'sum'``.
            Defaults to ``'max'``.
        min_instances (int | float): selected instances an image needs: a
            count, or a fraction in (0, 1) of its instances. Defaults to 1.
        max_fraction (float, optional): most images to select, as a
            fraction of all. Defaults to None (no cap).
        min_learned (float): ``select_epoch='auto'`` counts no knee before
            the detector finds this fraction of the instances. Defaults to
            0.1.
        exclude (str, optional): the label-noise guard on instances,
            ``'mismatched'``: never matched with its own class at any probe,
            while the detector finds others of that class and sees another
            class there. Defaults to None (off).
        **kwargs: as :class:`LearningLagHook` (``record`` is always
            ``'probe'``).
    """
    tracker_type = InstanceLagTracker
