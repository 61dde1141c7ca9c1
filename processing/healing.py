"""Healing: removed blemishes kept removed, with the original's texture in them.

Match mode puts the original's fine bands back. Where the AI healed a blemish,
those bands hold the blemish: its edge lives in them, and its darkness leaves
a bright halo in ``O - G_r(O)`` as far as the swap reaches. Blemish
protection (:mod:`processing.blemish`) keeps the swap out of the spot (weight
``1 - p``), so the AI's healing stays; on its own that leaves a patch of
AI-smooth skin, a plastic dot in a textured cheek at 100 %. Two things here
fix that, the way a retoucher's healing brush works:

1. **A healed original for the band.** Around the spot, where the protection
   fades, the swap still reads the original's band, blemish halo and all. So
   it reads a healed original instead: over the spot (``q``, its protection
   sharpened to a pixel or two of feather) ``O_healed = O + q (A - C - O)``,
   the AI's skin brought to the original's tone, ``C`` being the AI's change
   ``A - O`` measured on a thin ring just outside the spot and carried inwards.
2. **Texture in the spot.** Inside, where the swap does not reach, the
   original's band finer than the swap is borrowed from clean skin beside the
   spot (a patch offset by about the spot's size, chosen like the skin around
   it), made zero-mean at the pores' scale so it carries no tone, and scaled to
   the band energy of the skin around the spot. It is added with weight
   ``sqrt(2 p - p^2)``: with the in-place texture's ``1 - p`` the two unrelated
   textures keep their energy across the fade.

Inside a spot the result is then the AI's skin plus borrowed texture: the
blemish stays removed and nothing is left smooth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.boxes import components, grow_box
from processing.detail_transfer import halo_for
from processing.dtypes import from_float, full_scale, to_float
from processing.filters import gaussian_blur, low_pass, luminance, luminance_of
from processing.luminosity import luminosity_weight
from processing.row_bands import copy_in_bands, map_bands, map_items

#: The borrowed texture has no mean over a Gaussian this fraction of the
#: spot's patch wide (at least 1.5 px): a small spot's mean would otherwise
#: vary by a good part of the blemish's contrast from one patch to another.
TEXTURE_MEAN_FRACTION = 1.0 / 12.0
#: The borrowed texture's amplitude over the surrounding skin's: a little
#: more, since part of the pores' band went with the mean (TEXTURE_MEAN_FRACTION).
TEXTURE_LIFT = 1.2
#: Spots healed at most per plan (the largest); the rest keep the plain
#: protection (the AI's skin, without borrowed texture).
MAX_HEALED = 100
#: A spot's patch covers where its protection is above this.
HEAL_LEVEL = 0.02
#: Directions tried for the source patch (16 around the circle).
_ANGLES = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
#: Distances tried, as multiples of the spot box's larger side.
_DISTANCES = (0.8, 1.1, 1.5, 2.0, 2.8)
#: Distances up to this are tried first, for every spot; the rest only for
#: spots that found no source there.
_NEAR = 1.5
#: A source must look like the skin around the spot: band energy within a
#: factor of e, with colour and peaks counted in (see :func:`_pick_sources`).
_MAX_MISMATCH = 1.0


@dataclass
class HealPatch:
    """One healed spot.

    Attributes
    ----------
    box : (y0, y1, x0, x1)
        Where the patch goes, px in the frame it was made in (match mode's work box).
    pixels : ndarray, the original's dtype, (h, w) or (h, w, C)
        The healed original there, for the swap's band.
    where : ndarray bool (h, w)
        Where ``pixels`` differ from the original (``q > 0``).
    texture : ndarray float32 (h, w) or (h, w, C), or None
        Borrowed texture to add to the result there (full scale 1, already
        weighted by the protection); None when no clean skin nearby was like
        the spot's surroundings (the spot then keeps the AI's skin alone).
    offset : (dy, dx) or None
        Where the texture came from, px.
    """

    box: tuple[int, int, int, int]
    pixels: np.ndarray
    where: np.ndarray
    texture: np.ndarray | None = None
    offset: tuple[int, int] | None = None

    def shifted(self, dy: int, dx: int) -> "HealPatch":
        """The same patch seen from a frame whose origin is (dy, dx) in this one's."""
        y0, y1, x0, x1 = self.box
        return HealPatch((y0 - dy, y1 - dy, x0 - dx, x1 - dx), self.pixels, self.where, self.texture, self.offset)


def healed(original: np.ndarray, patches: list[HealPatch]) -> np.ndarray:
    """``original`` with ``patches`` pasted (a copy), or ``original`` itself when there are none.

    Patches partly outside the frame (a loupe's crop) are pasted where they overlap it.
    """
    if not patches:
        return original
    out = copy_in_bands(original)
    h, w = out.shape[:2]
    for patch in patches:
        y0, y1, x0, x1 = patch.box
        a0, a1, b0, b1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)
        if a0 >= a1 or b0 >= b1:
            continue
        src = patch.pixels[a0 - y0:a1 - y0, b0 - x0:b1 - x0]
        where = patch.where[a0 - y0:a1 - y0, b0 - x0:b1 - x0]
        np.copyto(out[a0:a1, b0:b1], src, where=where[..., None] if src.ndim == 3 else where)
    return out


def add_texture(out: np.ndarray, patches: list[HealPatch], weight_rows, strength: float = 1.0,
                shadows: float = 0.0, highlights: float = 1.0) -> None:
    """Add each patch's borrowed texture to ``out`` (in place), times the skin weight.

    ``weight_rows(y0, y1, x0, x1)`` gives the mask (times regional strength)
    without the blemish protection; ``strength`` and the luminosity protection
    act as in the match. Parts of a patch outside ``out`` are skipped.
    """
    h, w = out.shape[:2]
    for patch in patches:
        if patch.texture is None:
            continue
        y0, y1, x0, x1 = patch.box
        a0, a1, b0, b1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)
        if a0 >= a1 or b0 >= b1:
            continue
        region = out[a0:a1, b0:b1]
        x = to_float(region)
        m = weight_rows(a0, a1, b0, b1) * np.float32(strength)
        if shadows > 0 or highlights < 1:
            m = m * luminosity_weight(luminance(x), shadows, highlights)
        tex = patch.texture[a0 - y0:a1 - y0, b0 - x0:b1 - x0]
        region[...] = from_float(x + (m[..., None] if tex.ndim == 3 else m) * tex, out.dtype)


def _high_band(image: np.ndarray, y0: int, y1: int, x0: int, x1: int, radius: float) -> np.ndarray:
    """``X - G_r(X)`` of ``image[y0:y1, x0:x1]``, float32, read with the blur's halo."""
    h, w = image.shape[:2]
    pad = halo_for(radius)
    a0, a1, b0, b1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    x = to_float(image[a0:a1, b0:b1])
    # A wide swap's low band on a reduced copy, as the skin around is measured.
    return (x - low_pass(x, radius))[y0 - a0:y1 - a0, x0 - b0:x1 - b0]


def _texture_band(image: np.ndarray, y0: int, y1: int, x0: int, x1: int, radius: float,
                  mean_sigma: float) -> np.ndarray:
    """The band borrowed into a spot: finer than the swap (``radius``, px) and
    zero-mean over ``mean_sigma`` px, so it carries texture and no tone that
    would show as a lighter or darker spot."""
    band = _high_band(image, y0, y1, x0, x1, radius)
    return band - gaussian_blur(band, mean_sigma)


def channel_count(image: np.ndarray) -> int:
    """How many channels ``image`` has (1 for a 2-D array)."""
    return image.shape[2] if image.ndim == 3 else 1


def _typical(values: np.ndarray) -> float:
    """Mean of ``values`` (squares of a band) up to 16 times their median: what
    ordinary skin texture holds, an edge or a pore-sized peak left out."""
    if not values.size:
        return 0.0
    level = 16.0 * float(np.median(values))
    return float(values[values <= level].mean()) if level > 0 else 0.0


class _SkinAround:
    """What the source search needs about the skin near the spots, on the spots' reduced grid.

    Made once per plan: the luminance texture band's energy and fourth moment,
    the original's colour, the mask and the spots, each averaged over the
    grid's f x f blocks and kept as integral images, so that a candidate patch
    costs a few lookups whatever its size. Only cells a search asks for
    (:meth:`measure`) are measured: on a face with a few spots that is a
    small part of the work box. Cells not measured count as off the skin.
    """

    def __init__(self, original, spots, weight_rows, swap_radius: float, mean_sigma: float):
        self.original, self.weight_rows = original, weight_rows
        self.swap_radius, self.mean_sigma = swap_radius, mean_sigma
        self.f = spots.f
        self.origin = spots.origin
        self.image_shape = spots.shape
        hr, wr = self.shape = spots.soft.shape
        self.measured = np.zeros((hr, wr), bool)
        self.energy = np.zeros((hr, wr), np.float32)
        self.fourth = np.zeros((hr, wr), np.float32)
        self.mask = np.zeros((hr, wr), np.float32)
        self.colour = np.zeros((hr, wr, channel_count(original)), np.float32)
        self.taken = spots.soft > 0.5  # a source may borrow from a spot's fading margin, not the spot
        self.sums, self.sums_origin = {}, (0, 0)

    def measure(self, boxes, reach) -> None:
        """Measure every cell within ``reach[i]`` px of ``boxes[i]`` (image px) not measured yet."""
        hr, wr = self.shape
        f, (oy, ox) = self.f, self.origin
        wanted = np.zeros((hr, wr), bool)
        for box, grow in zip(boxes, reach):
            r0, r1, c0, c1 = self.to_grid(grow_box(box, grow, self.image_shape))
            wanted[max(0, r0 - 1):r1 + 1, max(0, c0 - 1):c1 + 1] = True
        wanted &= ~self.measured
        if not wanted.any():
            return
        original, h = self.original, self.image_shape[0]
        channels = self.colour.shape[2]
        halo = halo_for(self.swap_radius) + halo_for(self.mean_sigma)
        step = max(1, 256 // f) * f  # rows per piece, whole blocks

        def piece(r0: int) -> None:
            r1 = min(hr * f, r0 + step)
            cols = np.flatnonzero(wanted[r0 // f:r1 // f].any(axis=0))
            if not cols.size:
                return
            # Runs of wanted columns, apart where the gap is wider than two halos
            # (a second search measures a ring around what the first one did).
            breaks = np.flatnonzero(np.diff(cols) > 2 * halo // f + 1)
            for g0, g1 in zip(cols[np.r_[0, breaks + 1]], cols[np.r_[breaks, len(cols) - 1]] + 1):
                run(r0, r1, int(g0), int(g1))

        def run(r0: int, r1: int, g0: int, g1: int) -> None:
            a0, a1 = oy + r0, oy + r1
            b0, b1 = ox + g0 * f, ox + g1 * f
            # The blurs' halo, within the grid (as if the whole width were measured).
            e0, e1 = max(ox, b0 - halo), min(ox + wr * f, b1 + halo)
            lum = luminance_of(original[max(0, a0 - halo):min(h, a1 + halo), e0:e1])
            # The scene only compares patches and sets their level: close blurs
            # do (reduced copies from 3 px; the mean's is within a per cent of
            # the band's energy, and was 40 % of the measure's time exact).
            band = lum - low_pass(lum, self.swap_radius)
            band = (band - low_pass(band, self.mean_sigma, exact_below=3.0, cell=2.0)
                    )[a0 - max(0, a0 - halo):][:a1 - a0, b0 - e0:b1 - e0]
            sq = band * band
            size = (g1 - g0, (r1 - r0) // f)
            rows, span = slice(r0 // f, r1 // f), slice(g0, g1)
            self.energy[rows, span] = cv2.resize(sq, size, interpolation=cv2.INTER_AREA)
            self.fourth[rows, span] = cv2.resize(sq * sq, size, interpolation=cv2.INTER_AREA)
            self.mask[rows, span] = cv2.resize(self.weight_rows(a0, a1, b0, b1), size, interpolation=cv2.INTER_AREA)
            # Averaged before conversion (OpenCV's integer path); a level is plenty for a colour match.
            self.colour[rows, span] = to_float(cv2.resize(original[a0:a1, b0:b1], size, interpolation=cv2.INTER_AREA)
                                               ).reshape(size[1], size[0], channels)
            self.measured[rows, span] = True

        map_bands(piece, 0, hr * f, step)
        # Sums over the measured cells' box only (a few spots measure a small
        # part of the grid); :meth:`means` counts cells beyond it as off the skin.
        rows, cols = np.flatnonzero(self.measured.any(axis=1)), np.flatnonzero(self.measured.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        self.sums_origin = (int(r0), int(c0))
        cells = (slice(r0, r1), slice(c0, c1))
        off_skin = (self.mask < 0.5 * max(float(self.mask.max()), 1e-6)) | ~self.measured
        layers = (("energy", self.energy), ("fourth", self.fourth), ("taken", self.taken.astype(np.uint8)),
                  ("off_skin", off_skin.astype(np.uint8)), ("colour", self.colour))
        # Sums in float64: a patch's mean is a difference of two large sums
        # (counts of cells are exact as integers, and quicker).
        sums = map_items(lambda layer: cv2.integral(np.ascontiguousarray(layer[1][cells]),
                                                    sdepth=cv2.CV_32S if layer[1].dtype == np.uint8 else cv2.CV_64F),
                         layers)
        self.sums = {name: s for (name, _), s in zip(layers, sums)}
        self.sums["colour"] = self.sums["colour"].reshape(r1 - r0 + 1, c1 - c0 + 1, channels)

    def to_grid(self, box):
        """An image box (y0, y1, x0, x1) in the work box's px -> its cells on the grid (clipped)."""
        y0, y1, x0, x1 = box
        f, (oy, ox) = self.f, self.origin
        hr, wr = self.shape
        return (max(0, (y0 - oy) // f), min(hr, -(-(y1 - oy) // f)),
                max(0, (x0 - ox) // f), min(wr, -(-(x1 - ox) // f)))

    def means(self, name, r0, r1, c0, c1):
        """Mean of a measure over cells ``r0:r1, c0:c1`` (integer arrays of boxes alike)."""
        s = self.sums[name]
        # The part inside the summed box; cells beyond it were not measured.
        top, left = self.sums_origin
        # (np.minimum and np.maximum: np.clip costs more on a few dozen integers)
        a0, a1 = (np.minimum(np.maximum(r, top), top + s.shape[0] - 1) - top for r in (r0, r1))
        b0, b1 = (np.minimum(np.maximum(c, left), left + s.shape[1] - 1) - left for c in (c0, c1))
        area = (r1 - r0) * (c1 - c0)
        total = s[a1, b1] - s[a0, b1] - s[a1, b0] + s[a0, b0]
        if name == "off_skin":
            total = total + (area - (a1 - a0) * (b1 - b0))
        n = np.maximum(1, area)
        if s.ndim == 3:
            n = n[..., None]
        return total / n

    def around(self, box, reach: int) -> float:
        """Texture energy of the skin around ``box``, beyond ``reach`` px of it (its halo)."""
        y0, y1, x0, x1 = box
        side = max(y1 - y0, x1 - x0)
        inner = self.to_grid((y0 - reach, y1 + reach, x0 - reach, x1 + reach))
        outer = self.to_grid((y0 - reach - side, y1 + reach + side, x0 - reach - side, x1 + reach + side))
        r0, r1, c0, c1 = outer
        keep = (self.mask[r0:r1, c0:c1] > 0) & ~self.taken[r0:r1, c0:c1]
        keep[inner[0] - r0:inner[1] - r0, inner[2] - c0:inner[3] - c0] = False
        return _typical(self.energy[r0:r1, c0:c1][keep])


def heal_patches(original: np.ndarray, ai: np.ndarray, spots, weight_rows, swap_radius: float) -> list[HealPatch]:
    """A healed patch of the original for every spot of ``spots``.

    Parameters
    ----------
    original, ai : ndarray, same shape
        The pair in the frame ``spots`` covers (match mode's work box).
    spots : BlemishSpots
        Where the AI removed a blemish: the protection ``p`` (its ``soft`` weight).
    weight_rows : callable
        ``weight_rows(y0, y1, x0, x1)`` -> the skin mask there, float32: a
        borrowed patch must lie on skin.
    swap_radius : float, px
        The match's swap: the texture borrowed is finer than this.

    Returns
    -------
    list of HealPatch
    """
    h, w = spots.shape
    f = spots.f
    oy, ox = spots.origin
    n, _, stats = components((spots.soft > HEAL_LEVEL).view(np.uint8))
    boxes = []
    # The largest spots first, at most MAX_HEALED of them: a frame-wide mask on a
    # large file can turn up hundreds of faint ones, and each costs a few ms.
    order = 1 + np.argsort(-stats[1:, cv2.CC_STAT_AREA], kind="stable")[:MAX_HEALED]
    for k in sorted(order):
        sx, sy, sw, sh = stats[k, :4]
        y0, x0 = max(0, oy + (sy - 1) * f), max(0, ox + (sx - 1) * f)
        y1, x1 = min(h, oy + (sy + sh + 1) * f), min(w, ox + (sx + sw + 1) * f)
        if y1 > y0 and x1 > x0:
            boxes.append((y0, y1, x0, x1))
    if not boxes:
        return []
    # One zero-mean scale for the plan: a twelfth of the typical spot's box.
    sides = [max(b[1] - b[0], b[3] - b[2]) for b in boxes]
    mean_sigma = max(1.5, float(np.median(sides)) * TEXTURE_MEAN_FRACTION)
    scene = _SkinAround(original, spots, weight_rows, swap_radius, mean_sigma)
    # What the search reads: the candidates (up to the farthest distance tried
    # plus a patch) and the skin around each spot (its halo in the band plus a
    # side). The near distances first: most spots find a source there, and the
    # far ring measures four times the area.
    around_reach = [_around_reach(swap_radius) + side for side in sides]
    near = [d for d in _DISTANCES if d <= _NEAR]
    scene.measure(boxes, [max(int(np.ceil((near[-1] + 1) * side)), r) for side, r in zip(sides, around_reach)])
    # Texture from beside each spot, at the energy and colour of the skin around
    # it; that skin is taken beyond the reach of the spot's own halo in the
    # band (a dark spot leaves a bright ring in O - G_r(O) as far as about 2 r).
    around = [scene.around(box, _around_reach(swap_radius)) for box in boxes]
    protection = [_protection(spots, box) for box in boxes]
    rings = [_Ring.around(box, p, original.shape) for box, p in zip(boxes, protection)]
    colours = [ring.colour(original) for ring in rings]
    picks = _pick_sources(boxes, around, colours, scene, near)
    offsets = [offset for offset, _ in picks]
    # Farther only where no nearer skin was free (off the mask, or other spots):
    # skin nearby that was free but unlike the spot's surroundings says the
    # farther skin will be no better.
    blocked = [i for i, (offset, free) in enumerate(picks) if offset is None and not free and around[i] > 0]
    if blocked:
        scene.measure([boxes[i] for i in blocked], [int(np.ceil((_DISTANCES[-1] + 1) * sides[i])) for i in blocked])
        again = _pick_sources([boxes[i] for i in blocked], [around[i] for i in blocked],
                              [colours[i] for i in blocked], scene, _DISTANCES)
        for i, (offset, _) in zip(blocked, again):
            offsets[i] = offset
    # The spots' patches on the band threads (a few ms each, mostly in OpenCV;
    # the search above is small numpy steps, which threads would only slow).
    return map_items(lambda i: _heal_one(original, ai, boxes[i], protection[i], rings[i], offsets[i], around[i], f,
                                         swap_radius, mean_sigma), range(len(boxes)))


def _around_reach(swap_radius: float) -> int:
    """How far a dark spot's bright ring reaches in ``O - G_r(O)`` (px): about 2 r."""
    return int(np.ceil(2 * swap_radius))


def _protection(spots, box) -> np.ndarray:
    """The spots' protection over ``box`` (y0, y1, x0, x1), enlarged from the
    reduced cells around it only (``spots.rows`` enlarges whole rows)."""
    y0, y1, x0, x1 = box
    f = spots.f
    if f == 1:
        return 1.0 - spots.rows(y0, y1, x0, x1)
    oy, ox = spots.origin
    hr, wr = spots.soft.shape
    # Cells one beyond the box each side, enlarged as the whole grid would be
    # (cell centres at (i + 0.5) f - 0.5).
    r0, r1 = max(0, (y0 - oy) // f - 1), min(hr, (y1 - oy) // f + 2)
    c0, c1 = max(0, (x0 - ox) // f - 1), min(wr, (x1 - ox) // f + 2)
    cells = np.clip(spots.soft[r0:r1, c0:c1], 0.0, 1.0)
    big = cv2.resize(cells, ((c1 - c0) * f, (r1 - r0) * f), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    a0, a1 = max(y0, oy + r0 * f), min(y1, oy + r1 * f)
    b0, b1 = max(x0, ox + c0 * f), min(x1, ox + c1 * f)
    out[a0 - y0:a1 - y0, b0 - x0:b1 - x0] = big[a0 - oy - r0 * f:a1 - oy - r0 * f, b0 - ox - c0 * f:b1 - ox - c0 * f]
    return out


@dataclass
class _Ring:
    """A thin ring just outside a spot (its covered part grown by ``side / 8``), in a padded window."""

    window: tuple[int, int, int, int]   # (c0, c1, d0, d1): the padded window, image px
    inner: tuple[slice, slice]          # the spot's box inside the window
    edge: np.ndarray                    # float32 0/1 over the window
    sigma: float                        # px: how smoothly the AI's change is carried inwards

    @classmethod
    def around(cls, box, p: np.ndarray, shape) -> "_Ring":
        y0, y1, x0, x1 = box
        h, w = shape[:2]
        side = max(y1 - y0, x1 - x0)
        band_px = max(2, int(round(side / 8)))
        sigma = max(1.5, side / 4.0)
        pad = band_px + int(np.ceil(3 * sigma))
        c0, c1, d0, d1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
        inner = (slice(y0 - c0, y1 - c0), slice(x0 - d0, x1 - d0))
        covered = np.zeros((c1 - c0, d1 - d0), np.uint8)
        covered[inner] = p > HEAL_LEVEL
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1,) * 2)
        edge = ((cv2.dilate(covered, disc) > 0) & (covered == 0)).astype(np.float32)
        return cls((c0, c1, d0, d1), inner, edge, sigma)

    def colour(self, image: np.ndarray) -> np.ndarray:
        """Mean colour of ``image`` on the ring, float32 per channel in [0, 1]."""
        c0, c1, d0, d1 = self.window
        mean = cv2.mean(image[c0:c1, d0:d1], mask=self.edge.astype(np.uint8))[:channel_count(image)]
        return np.float32(mean) / np.float32(full_scale(image.dtype))


def _heal_one(original, ai, box, p, ring: _Ring, offset, around: float, f: int, swap_radius,
              mean_sigma) -> HealPatch:
    """The healed original and the borrowed texture (from ``offset``, scaled to the
    energy ``around`` the spot) over one spot's box (``p``: its protection)."""
    y0, y1, x0, x1 = box
    side = max(y1 - y0, x1 - x0)
    # Healed on the spot and its margin (where the protection is full), with a
    # pixel or two of feather.
    q = np.clip(2.0 * p - 1.0, 0.0, 1.0)
    # The AI's skin brought to the original's tone: A - C, with C the AI's change
    # (A - O) measured on a thin ring just outside the spot and carried smoothly
    # inwards (normalized convolution), so the patch meets the original at its
    # edge whatever lies a little farther (a hairline, a fold). C is smooth:
    # on a large frame it is made on the spots' reduced grid.
    c0, c1, d0, d1 = ring.window
    edge, sigma, inner = ring.edge, ring.sigma, ring.inner
    difference = to_float(ai[c0:c1, d0:d1]) - to_float(original[c0:c1, d0:d1])
    channels = (lambda x: x[..., None]) if difference.ndim == 3 else (lambda x: x)
    k = max(1, min(f, int(sigma // 2)))
    if k > 1:
        size = (max(1, (d1 - d0) // k), max(1, (c1 - c0) // k))
        e_small = cv2.resize(edge, size, interpolation=cv2.INTER_AREA)
        d_small = cv2.resize(difference * channels(edge), size, interpolation=cv2.INTER_AREA)
        d_small = d_small.reshape(e_small.shape + difference.shape[2:])
        small = gaussian_blur(d_small, sigma / k) / channels(np.maximum(gaussian_blur(e_small, sigma / k), 1e-6))
        change = cv2.resize(small, (d1 - d0, c1 - c0), interpolation=cv2.INTER_LINEAR).reshape(difference.shape)
    else:
        change = gaussian_blur(difference * channels(edge), sigma) / channels(
            np.maximum(gaussian_blur(edge, sigma), 1e-6))
    o = to_float(original[y0:y1, x0:x1])
    pixels = from_float(o + channels(q) * (difference[inner] - change[inner]), original.dtype)
    texture = None
    if offset is not None:
        dy, dx = offset
        band = _texture_band(original, y0 + dy, y1 + dy, x0 + dx, x1 + dx, swap_radius, mean_sigma)
        # At the energy of the skin around the spot everywhere inside it: a few
        # pixels of texture vary too much by chance to be scaled as a whole.
        lum = luminance(band)
        local = gaussian_blur(lum * lum, max(1.5, side / 10.0))
        gain = np.clip(TEXTURE_LIFT * np.sqrt(around / np.maximum(local, 1e-12)), 0.5, 2.0)
        texture = (channels(gain * np.sqrt(np.clip(2 * p - p * p, 0.0, 1.0))) * band).astype(np.float32)
    return HealPatch(box, pixels, q > 0, texture, offset)


def _pick_sources(boxes, around, colours, scene: _SkinAround, distances=_DISTANCES) -> list:
    """For each spot, the offset whose patch is clean skin most like the spot's
    surroundings (or None), and whether any candidate was free clean skin at all.

    Candidates lie around each spot at ``distances`` (multiples of its box's
    larger side), in 16 directions; a patch must touch no spot and lie on the
    mask. At the nearest distance that has any, the one most like the skin
    around the spot (``around``: its band energy; ``colours``: its mean colour)
    wins: band energy (log ratio), its peakiness (fourth moment over the
    squared energy, 3 for Gaussian texture: an edge of a brow, a lip or a
    nostril is not skin texture) and mean colour (in the texture's standard
    deviations, over eight) add up to its mismatch. Every spot's candidates
    are looked up at once: a few lookups for all, not a few per spot.
    """
    if not boxes:
        return []
    hr, wr = scene.shape
    f, (oy, ox) = scene.f, scene.origin
    # Axes: spots, distances, directions.
    y0, y1, x0, x1 = (np.array([b[i] for b in boxes])[:, None, None] for i in range(4))
    side = np.maximum(y1 - y0, x1 - x0)
    level = np.asarray(around, np.float64)[:, None, None]
    has_skin = level > 0
    dist = np.asarray(distances)[None, :, None] * side
    dy = np.round(dist * np.sin(_ANGLES)).astype(int)
    dx = np.round(dist * np.cos(_ANGLES)).astype(int)
    inside = (y0 + dy >= oy) & (x0 + dx >= ox) & (y1 + dy <= oy + hr * f) & (x1 + dx <= ox + wr * f)
    r0, r1 = np.clip((y0 + dy - oy) // f, 0, hr), np.clip(-(-(y1 + dy - oy) // f), 0, hr)
    c0, c1 = np.clip((x0 + dx - ox) // f, 0, wr), np.clip(-(-(x1 + dx - ox) // f), 0, wr)
    cells = (r0, r1, c0, c1)
    energy = scene.means("energy", *cells)
    ok = (inside & (scene.means("taken", *cells) <= 0) & (scene.means("off_skin", *cells) <= 0)
          & (energy > 0) & has_skin)
    energy = np.where(ok, energy, 1.0)
    level = np.where(has_skin, level, 1.0)  # a spot with no skin around it has no candidates
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.abs(np.log(energy / level))
        score += np.maximum(0.0, np.log(np.maximum(scene.means("fourth", *cells), 1e-30) / energy ** 2 / 4.5))
    colour = np.stack([np.ravel(c) for c in colours])[:, None, None, :]
    score += np.linalg.norm(scene.means("colour", *cells) - colour, axis=-1) / (8.0 * np.sqrt(level))
    score = np.where(ok & (score <= _MAX_MISMATCH), score, np.inf)
    picks = []
    for i in range(len(boxes)):
        pick = None
        for row in range(len(distances)):
            best = int(np.argmin(score[i, row]))
            if np.isfinite(score[i, row, best]):
                pick = (int(dy[i, row, best]), int(dx[i, row, best]))
                break
        picks.append((pick, bool(ok[i].any())))
    return picks
