"""Put the original photo on the pixel grid of its AI-retouched version.

AI retouching tools do not always return the same pixel grid: some export at
another size, crop a few per cent, shift by a pixel or apply a liquify warp.
Grafting texture from a misaligned original makes ghost edges and doubled
pores, so the original is first resampled onto the AI image's geometry.

The estimation works on reduced, blurred luminance copies, because the AI image
is smoothed (pores and blemishes removed) and only the structure both images
share can be matched:

1. SIFT features + RANSAC give a coarse similarity (scale, rotation, shift) and
   decide whether the two files show the same photo at all
   (:mod:`~processing.align.features`);
2. DIS optical flow between the AI image and the coarsely warped original
   gives a dense displacement field; a robust least-squares fit of it refines
   the similarity to a few hundredths of a pixel
   (:mod:`~processing.align.flow`); a small move on a same-size pair is
   checked by a direct least-squares fit (:mod:`~processing.align.shift_check`);
3. what the similarity does not explain is a local warp (liquify); it is
   applied, smoothed, only when ``refine`` is set and it is meaningful.

The original is then resampled once, at full resolution (``cv2.warpAffine`` or
``cv2.remap``, bicubic; :mod:`~processing.align.resample`). When both images
already share the pixel grid - the common case - nothing is resampled, because
resampling softens the very texture that is grafted.
:mod:`~processing.align.pair` chains these stages; matrices and fields are in
:mod:`~processing.align.geometry`.

Coordinates: pixel centres sit at integer ``(x, y)``, x to the right, y down.
"""

from processing.align.errors import AlignmentError
from processing.align.pair import Alignment, align_if_enabled, align_pair

__all__ = ["AlignmentError", "Alignment", "align_pair", "align_if_enabled"]
