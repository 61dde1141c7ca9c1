"""``retexture``: restore skin texture from the command line.

Errors are one line on stderr and a non-zero exit status, never a traceback
(set RETEXTURE_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from processing.batch import add_batch_parser, run_batch_command
from processing.image_io import (DEFAULT_MAX_PIXELS, ImageReadError, ImageWriteError, LoadedImage,
                                 check_output_path, encode_image, match_layout, output_format, read_image,
                                 read_mask, write_bytes_safely, write_image)
from processing.settings import METHODS, RANGES, Preset, SettingsError

EXIT_ERROR = 1


class CliError(Exception):
    """A problem to report in one line."""


# CLI option -> (preset section or None for the chosen method, field)
_METHOD_OPTIONS = {
    "amount": ("synthetic", "amount"), "grain_size": ("synthetic", "grain_size"),
    "seed": ("synthetic", "seed"), "opacity": ("synthetic", "opacity"),
    "monochrome": ("synthetic", "monochrome"), "radius": ("graft", "radius"),
    "blur": ("freqsep", "blur"), "mode": ("freqsep", "mode"), "cutoff": ("match", "cutoff"),
    "region_forehead": ("match", "forehead"), "region_cheeks": ("match", "cheeks"),
    "region_nose": ("match", "nose"), "region_chin": ("match", "chin"),
    "strength": (None, "strength"), "blemish": (None, "blemish"),
    "shadows": (None, "shadows"), "highlights": (None, "highlights"),
}


def _range(section: str, name: str) -> str:
    lo, hi, unit = RANGES[section][name]
    return f"{lo:g}-{hi:g}{unit}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retexture", description="Give back the skin texture that AI retouching wiped away.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("restore", help="restore texture onto an AI-retouched image",
                       description="Restore skin texture onto RETOUCHED using ORIGINAL.")
    p.add_argument("original", help="the photo before AI retouching")
    p.add_argument("retouched", help="the AI-retouched photo (the base; keeps its size and format)")
    p.add_argument("-o", "--output", required=True, help="output file (.jpg/.png/.tif/.webp; default format: the retouched image's)")
    p.add_argument("--method", choices=METHODS,
                   help="match (default: every smoothed band back to the original's energy), synthetic grain, "
                        "high-pass graft, or frequency separation")
    p.add_argument("--mask", default="auto",
                   help="'auto' (skin mask from face landmarks, the default), 'none' (whole image) or a mask image file")
    p.add_argument("--preset", help="JSON preset with the settings (options below override it)")
    p.add_argument("--save-preset", metavar="FILE", help="also write the settings used to this JSON preset")
    p.add_argument("--no-align", action="store_true", help="do not align the original onto the retouched image")
    g = p.add_argument_group("match")
    g.add_argument("--cutoff", type=float, help="match bands finer than this radius in px (default 0 = read off the texture spectrum)")
    for region in ("forehead", "cheeks", "nose", "chin"):
        g.add_argument(f"--region-{region}", type=float, metavar="PCT", help=f"strength on the {region}, %% (default 100)")
    g = p.add_argument_group("synthetic grain")
    g.add_argument("--amount", type=float, help=f"grain strength, %% of full scale ({_range('synthetic', 'amount')}, default 3)")
    g.add_argument("--grain-size", type=float, help=f"grain blur in px ({_range('synthetic', 'grain_size')}, default 0.5; larger for 24 MP)")
    g.add_argument("--seed", type=int, help="random seed (same seed, same grain)")
    g.add_argument("--opacity", type=float, help="grain opacity in %% (default 100)")
    g.add_argument("--color-grain", dest="monochrome", action="store_false", default=None,
                   help="independent grain per channel instead of monochrome")
    g = p.add_argument_group("high-pass graft")
    g.add_argument("--radius", type=float, help=f"High Pass radius in px ({_range('graft', 'radius')}, default 2)")
    g = p.add_argument_group("frequency separation")
    g.add_argument("--blur", type=float, help=f"low-pass blur in px ({_range('freqsep', 'blur')}, default 6)")
    g.add_argument("--mode", choices=("add", "replace"), help="add the original's high band, or replace the AI's (default add)")
    g = p.add_argument_group("match, graft and frequency separation")
    g.add_argument("--strength", type=float, help="%% of the original's detail: 100 = as in the original (default), 200 = doubled")
    g.add_argument("--blemish", type=float,
                   help="sensitivity %% of the protection that keeps spots the AI removed from coming back "
                        "(0 = off; default 50 for match, 0 for graft and freqsep)")
    g = p.add_argument_group("luminosity protection (all methods)")
    g.add_argument("--shadows", type=float, help="fade texture out below this luminance, %% (0 = off)")
    g.add_argument("--highlights", type=float, help="fade texture out above this luminance, %% (100 = off)")
    g = p.add_argument_group("automatic mask")
    g.add_argument("--forehead", type=float, help="extend the forehead above the landmarks by this fraction of the face height (default 0.25)")
    g.add_argument("--feather", type=float, help="feather the mask by this fraction of the face height (default 0.04)")
    p.add_argument("--max-pixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6,
                   help="refuse images larger than this many megapixels (default 150)")

    p = sub.add_parser("metrics", help="texture ratios of the AI image and a result, as JSON")
    p.add_argument("original")
    p.add_argument("retouched")
    p.add_argument("restored")
    p.add_argument("--mask", help="mask image (default: whole image)")

    p = sub.add_parser("mask", help="write the automatic skin mask of a photo as an 8-bit PNG")
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, help="mask file to write (.png)")
    p.add_argument("--forehead", type=float, default=0.25, help="forehead extension, fraction of face height (default 0.25)")
    p.add_argument("--feather", type=float, default=0.04, help="feather, fraction of face height (default 0.04)")

    add_batch_parser(sub)
    return parser


def preset_from_args(args) -> Preset:
    """The preset file (or defaults) with the command-line options applied."""
    preset = Preset.load(args.preset) if args.preset else Preset()
    if args.method:
        preset = preset.replace(method=args.method)
    if args.no_align:
        preset = preset.replace(align=False)
    changes: dict[str, dict] = {}
    for opt, (section, name) in _METHOD_OPTIONS.items():
        value = getattr(args, opt, None)
        if value is None:
            continue
        if section is None:
            section = preset.method
            if name in ("strength", "blemish") and section == "synthetic":
                raise SettingsError(f"--{name} does not apply to synthetic grain (use --opacity or --amount).")
        changes.setdefault(section, {})[name] = value
    for key in ("forehead", "feather"):
        if getattr(args, key, None) is not None:
            changes.setdefault("mask", {})[key] = getattr(args, key)
    for section, values in changes.items():
        preset = preset.replace(**{section: getattr(preset, section).replace(**values)})
    return preset


def _auto_mask(ai: LoadedImage, preset: Preset):
    from processing.skin_mask import propose_skin_mask

    proposal = propose_skin_mask(ai.pixels, forehead=preset.mask.forehead, feather=preset.mask.feather)
    return proposal.mask, proposal.faces, proposal.message


def cmd_restore(args) -> int:
    preset = preset_from_args(args)
    max_pixels = int(args.max_pixels * 1e6)
    out = check_output_path(args.output, [args.original, args.retouched])
    fmt = output_format(out, None) if out.suffix else None
    # Decode the files side by side: JPEG decoding releases the GIL, and it is
    # a third of a 24 MP run.
    with ThreadPoolExecutor(max_workers=3) as pool:
        want_original = preset.method != "synthetic"  # synthetic grain never reads the original
        jobs = {"ai": pool.submit(read_image, args.retouched, max_pixels=max_pixels)}
        if want_original:
            jobs["original"] = pool.submit(read_image, args.original, max_pixels=max_pixels)
        if args.mask not in ("auto", "none"):
            jobs["mask"] = pool.submit(read_image, args.mask)
        loaded = {name: job.result() for name, job in jobs.items()}
    ai = loaded["ai"]
    original_pixels, coverage = None, None
    notes = list(ai.notes)
    if want_original:
        original = loaded["original"]
        notes = original.notes + notes
        original_pixels = match_layout(original.pixels, ai.pixels)
        original_pixels, coverage = _align(original_pixels, ai.pixels, preset.align)
    for note in notes:
        print(note)
    faces = []
    if args.mask == "none":
        mask = None
    elif args.mask == "auto":
        mask, faces, message = _auto_mask(ai, preset)
        print(message)
    else:
        mask = read_mask(loaded["mask"], ai.pixels.shape)
    if coverage is not None:
        from processing.tiles import mask_to_float

        mask = coverage if mask is None else mask_to_float(mask) * coverage
    from processing.restore import restore

    if preset.method == "match":
        from processing.match import plan_match, texture_match

        plan = plan_match(original_pixels, ai.pixels, mask, preset.match, faces)
        if plan is None:
            print("The mask is empty: the retouched image is written unchanged.")
        else:
            print(f"Match: cut-off {plan.cutoff:.1f} px ({'automatic' if preset.match.cutoff == 0 else 'set'}; "
                  f"the spectrum suggests {plan.auto_cutoff:.1f} px)"
                  + ("; removed blemishes kept clean." if plan.blemish is not None else "."))
        result = texture_match(original_pixels, ai.pixels, mask, preset.match, faces, plan=plan)
    else:
        result = restore(original_pixels, ai.pixels, mask, preset)
    fmt = fmt or ai.format
    written = write_image(out, result, ai, fmt=fmt, inputs=[args.original, args.retouched])
    depth = {8: "8-bit", 16: "16-bit", 32: "32-bit float"}[ai.bit_depth] if fmt in ("PNG", "TIFF") else "8-bit"
    print(f"Restored with {_describe(preset)}; wrote {written} ({depth} {fmt}).")
    if args.save_preset:
        preset.save(args.save_preset)
    return 0


def _align(original: np.ndarray, ai: np.ndarray, enabled: bool):
    """The original on the AI image's grid, and the coverage mask (None when identical)."""
    from processing.align import align_if_enabled

    alignment = align_if_enabled(original, ai, enabled, "drop --no-align")
    if alignment is None or alignment.identity:
        return original, None
    print(alignment.summary())
    return alignment.original, alignment.coverage


def _describe(preset: Preset) -> str:
    s = preset.settings
    if preset.method == "match":
        cut = "automatic cut-off" if s.cutoff == 0 else f"cut-off {s.cutoff:g} px"
        return f"match ({cut}, strength {s.strength:g} %, blemish protection {s.blemish:g} %)"
    if preset.method == "synthetic":
        return f"synthetic grain (amount {s.amount:g} %, grain {s.grain_size:g} px, seed {s.seed})"
    if preset.method == "graft":
        return f"high-pass graft (radius {s.radius:g} px, strength {s.strength:g} %)"
    return f"frequency separation ({s.mode}, blur {s.blur:g} px, strength {s.strength:g} %)"


def cmd_metrics(args) -> int:
    from processing.metrics import texture_report

    images = [read_image(p) for p in (args.original, args.retouched, args.restored)]
    shapes = {im.pixels.shape[:2] for im in images}
    if len(shapes) != 1:
        sizes = ", ".join(f"{im.size[0]}x{im.size[1]}" for im in images)
        raise CliError(f"The three images must have the same size (got {sizes}); align them first.")
    pixels = [im.pixels for im in images]
    pixels = [match_layout(p, pixels[1]) for p in pixels]
    mask = read_mask(args.mask, pixels[1].shape) if args.mask else None
    report = texture_report(*pixels, mask)
    print(json.dumps(report, indent=2, default=_json_number))
    return 0


def _json_number(x):
    if isinstance(x, (np.floating, np.integer)):
        return float(x)
    raise TypeError(type(x).__name__)


def cmd_mask(args) -> int:
    from processing.skin_mask import propose_skin_mask
    from processing.settings import MaskSettings

    MaskSettings(forehead=args.forehead, feather=args.feather)  # validates the ranges
    image = read_image(args.image)
    proposal = propose_skin_mask(image.pixels, forehead=args.forehead, feather=args.feather)
    mask8 = (np.clip(proposal.mask, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ""):
        raise CliError(f"Write the mask as PNG (got {out.name}); JPEG would blur its edges.")
    write_bytes_safely(out.with_suffix(".png"), encode_image(mask8, "PNG"), inputs=[args.image])
    print(proposal.message)
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"restore": cmd_restore, "metrics": cmd_metrics, "mask": cmd_mask, "batch": run_batch_command}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("retexture: interrupted; nothing half-written was left behind.", file=sys.stderr)
        return 130
    except (CliError, ImageReadError, ImageWriteError, SettingsError, ValueError, OSError) as exc:
        if os.environ.get("RETEXTURE_DEBUG"):
            raise
        print(f"retexture: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, with a way to get more
        if os.environ.get("RETEXTURE_DEBUG"):
            raise
        print(f"retexture: internal error ({type(exc).__name__}: {_one_line(exc)}); "
              "run again with RETEXTURE_DEBUG=1 and report the output.", file=sys.stderr)
        return EXIT_ERROR


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
