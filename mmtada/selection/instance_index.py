"""The ground-truth instances of a detection training set, numbered."""
from typing import List

import numpy as np
import torch

AGGREGATES = ('max', 'mean', 'sum')


class InstanceIndex:
    """Every scored ground-truth instance of a detection dataset, numbered
    ``0..M-1`` in (image, position) order.

    An instance's identity is ``(image, position)``: the base-dataset index
    of its image and its position in that image's ``data_info['instances']``
    (which the test pipeline never reorders). Instances with
    ``ignore_flag`` set are not scored and get no number. Built from the
    data infos of a :class:`~mmtada.datasets.SampleReader` (any object
    with ``len`` and ``data_info(i)``) alone, so every rank builds the
    same index.

    Attributes:
        image (LongTensor): (M,) image of each instance.
        position (LongTensor): (M,) position in its image's list.
        labels (LongTensor): (M,) class of each instance.
        bboxes (List[Tensor]): per image, (K_i, 4) xyxy boxes of its scored
            instances, original coordinates.
        offsets (LongTensor): (N + 1,) instances of image ``i`` are numbers
            ``offsets[i]:offsets[i + 1]``.
    """

    def __init__(self, reader):
        image, position, labels, bboxes, offsets = [], [], [], [], [0]
        for i in range(len(reader)):
            boxes = []
            for p, inst in enumerate(reader.data_info(i)['instances']):
                if inst.get('ignore_flag', 0):
                    continue
                image.append(i)
                position.append(p)
                labels.append(int(inst['bbox_label']))
                boxes.append(inst['bbox'])
            bboxes.append(torch.tensor(boxes, dtype=torch.float32).view(-1, 4))
            offsets.append(offsets[-1] + len(boxes))
        self.image = torch.tensor(image, dtype=torch.long)
        self.position = torch.tensor(position, dtype=torch.long)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.bboxes: List[torch.Tensor] = bboxes
        self.offsets = torch.tensor(offsets, dtype=torch.long)

    @property
    def num_instances(self) -> int:
        return len(self.labels)

    @property
    def num_images(self) -> int:
        return len(self.bboxes)

    def numbers(self, image: int) -> torch.Tensor:
        """Instance numbers of ``image``."""
        return torch.arange(int(self.offsets[image]),
                            int(self.offsets[image + 1]))

    def count_per_image(self, mask: torch.Tensor) -> torch.Tensor:
        """(N,) how many instances of each image ``mask`` (M,) marks."""
        return torch.zeros(self.num_images, dtype=torch.long).index_add_(
            0, self.image, mask.long())

    def aggregate(self, values: torch.Tensor, how: str) -> torch.Tensor:
        """(N,) per-image ``max``/``mean``/``sum`` of per-instance
        ``values`` (M,), NaN ignored; NaN for images with none."""
        if how not in AGGREGATES:
            raise ValueError(f'aggregate must be one of {AGGREGATES}, got '
                             f'{how!r}.')
        v = values.double()
        known = ~torch.isnan(v)
        count = torch.zeros(self.num_images, dtype=torch.float64).index_add_(
            0, self.image, known.double())
        if how == 'max':
            out = torch.full((self.num_images, ), -np.inf, dtype=torch.float64)
            out.scatter_reduce_(0, self.image[known], v[known], reduce='amax')
        else:
            out = torch.zeros(self.num_images, dtype=torch.float64).index_add_(
                0, self.image[known], v[known])
            if how == 'mean':
                out = out / count.clamp(min=1)
        out[count == 0] = float('nan')
        return out
