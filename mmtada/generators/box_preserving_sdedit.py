"""SDEdit of whole detection images that keeps every box valid."""
import copy
from typing import List, Optional

import cv2
import numpy as np

from mmtada.registry import GENERATORS
from .base_generator import BaseGenerator
from .box_layout import layout_mask
from .image_io import letterbox, resize

# mode: (strength inside the boxes, strength outside)
MODES = dict(background=(0.1, 0.5), objects=(0.5, 0.0))


def add_edit(img: np.ndarray, before: np.ndarray,
             after: np.ndarray) -> np.ndarray:
    """``img`` plus the edit ``after - before`` (both at a lower
    resolution, covering all of ``img``), upscaled bilinearly: in 16-bit
    integers with a saturating add (a float image of a 16 MP photo costs
    seconds; this, tens of milliseconds)."""
    h, w = img.shape[:2]
    delta = cv2.subtract(after, before, dtype=cv2.CV_16S)
    delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(img, delta.reshape(img.shape), dtype=cv2.CV_8U)


@GENERATORS.register_module()
class BoxPreservingSDEdit(BaseGenerator):
    """Box-preserving SDEdit: a layout mask from the image's boxes (each
    dilated by ``margin``) sets a per-pixel strength for an SDEdit
    generator (``PixelSDEdit`` or ``LatentSDEdit``).

    - ``mode='background'``: keep the objects, vary the scene (low
      ``box_strength``, default 0.1; ``background_strength`` 0.5).
    - ``mode='objects'``: vary the objects inside their boxes, keep the
      scene (``box_strength`` 0.5; ``background_strength`` 0, i.e. exact).

    Boxes and labels are carried to the variant unchanged: nothing moves
    an object out of its (dilated) box, and a region of strength 0 is the
    source's pixels exactly. Images of any size and aspect ratio are
    letterboxed to the generator's resolution (longer side scaled to it,
    aspect kept, reflect padding), edited and cropped back; with
    ``restore_detail`` the edit (variant minus source, at the model's
    resolution) is upscaled and added to the full-resolution source, so a
    small model does not blur what it barely changes. Sources arrive as
    RGB (the dataset converts grayscale, palette and RGBA). An
    annotation's ``strength`` (a strength ladder's step) replaces the
    strength of the region the mode varies (the background, or the boxes).

    Args:
        generator (dict): the SDEdit generator, without strengths.
        mode (str): ``'background'`` or ``'objects'``. Defaults to
            ``'background'``.
        box_strength (float, optional): strength inside the dilated boxes.
            Defaults to None: the mode's (0.1 / 0.5).
        background_strength (float, optional): strength elsewhere.
            Defaults to None: the mode's (0.5 / 0).
        margin (float): dilation, as a fraction of each box's size.
            Defaults to 0.1.
        min_margin (int): least dilation in pixels. Defaults to 2.
        restore_detail (bool): add the upscaled edit to the source instead
            of upscaling the edited image. Defaults to True.
    """
    varies_strength = True

    def __init__(self,
                 generator: dict,
                 mode: str = 'background',
                 box_strength: Optional[float] = None,
                 background_strength: Optional[float] = None,
                 margin: float = 0.1,
                 min_margin: int = 2,
                 restore_detail: bool = True):
        if mode not in MODES:
            raise ValueError(f'BoxPreservingSDEdit mode must be one of '
                             f"{tuple(MODES)}, got '{mode}'.")
        cfg = copy.deepcopy(dict(generator))
        if 'strength' in cfg or 'strength_inside' in cfg:
            raise ValueError(
                'set box_strength and background_strength on '
                'BoxPreservingSDEdit, not strength/strength_inside on its '
                'inner generator.')
        inside, outside = MODES[mode]
        self.mode = mode
        self.box_strength = inside if box_strength is None \
            else float(box_strength)
        self.background_strength = outside if background_strength is None \
            else float(background_strength)
        if margin < 0 or min_margin < 0:
            raise ValueError('margin and min_margin must be >= 0.')
        self.margin = float(margin)
        self.min_margin = int(min_margin)
        self.restore_detail = bool(restore_detail)
        cfg.update(strength=self.background_strength,
                   strength_inside=self.box_strength)
        try:
            self.generator = GENERATORS.build(cfg)
        except TypeError as e:
            if 'strength' not in str(e):
                raise
            raise TypeError(
                f"BoxPreservingSDEdit wraps an SDEdit generator "
                f"(mmtada.PixelSDEdit or mmtada.LatentSDEdit), not "
                f"{cfg.get('type')}.") from None
        self.batch_size = self.generator.batch_size
        self.resolution = int(self.generator.resolution)

    def generate(self, images: List[np.ndarray], annotations: List[dict],
                 seeds: List[int]) -> List[np.ndarray]:
        masks, squares, shapes, square_masks = [], [], [], []
        for img, ann in zip(images, annotations):
            mask = layout_mask(img.shape, ann.get('bboxes', ()),
                               self.margin, self.min_margin)
            square, shape = letterbox(img, self.resolution)
            square_mask, _ = letterbox(mask.astype(np.uint8), self.resolution,
                                       cv2.INTER_NEAREST)
            masks.append(mask)
            squares.append(square)
            shapes.append(shape)
            square_masks.append(square_mask)
        inside, outside = zip(*[self._strengths(a) for a in annotations])
        masked = [dict(a, mask=m, strength=o, strength_inside=i)
                  for a, m, i, o in zip(annotations, square_masks, inside,
                                        outside)]
        edited = self.generator.generate(squares, masked, seeds)
        out = []
        parts = zip(images, masks, squares, shapes, edited, inside, outside)
        for img, mask, square, (sh, sw), var, s_in, s_out in parts:
            h, w = img.shape[:2]
            if self.restore_detail:
                res = add_edit(img, square[:sh, :sw], var[:sh, :sw])
            else:
                res = resize(np.ascontiguousarray(var[:sh, :sw]), (w, h))
            if s_in == 0 and s_out == 0:
                res = img.copy()
            elif s_in == 0 or s_out == 0:  # a region kept exactly
                keep = mask if s_in == 0 else ~mask
                np.copyto(res, img, where=keep[..., None])
            out.append(res)
        return out

    def _strengths(self, annotation: dict) -> tuple:
        """(inside the boxes, outside) for one image: the annotation's
        ``strength`` takes the varied region's place."""
        inside, outside = self.box_strength, self.background_strength
        if 'strength' in annotation:
            if self.mode == 'background':
                outside = float(annotation['strength'])
            else:
                inside = float(annotation['strength'])
        return inside, outside

    def settings(self) -> dict:
        return dict(type='BoxPreservingSDEdit', mode=self.mode,
                    box_strength=self.box_strength,
                    background_strength=self.background_strength,
                    margin=self.margin, min_margin=self.min_margin,
                    restore_detail=self.restore_detail,
                    generator=self.generator.settings())
