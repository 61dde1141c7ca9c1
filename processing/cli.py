"""``retexture``: restore skin texture from the command line.

Errors are one line on stderr and a non-zero exit status, never a traceback
(set RETEXTURE_DEBUG=1 to see one); a mistake in the command itself (unknown
option, missing argument) is one line and exit status 2. The method options
are generated from the settings' own descriptions (:mod:`processing.settings`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from processing.command_files import CommandFiles
from processing.image_io import (DEFAULT_MAX_PIXELS, RAW_READABLE, ImageReadError, ImageWriteError, encode_image,
                                 output_format, read_image, read_mask)
from processing.landmarks import FaceModelError
from processing.row_bands import one_blas_thread
from processing.settings import (METHOD_LABELS, METHODS, SECTIONS, MaskSettings, Preset, SettingsError,
                                 number_text)

EXIT_ERROR = 1
EXIT_USAGE = 2
#: The largest --max-pixels accepted: a 1-gigapixel photo is beyond any camera's single frame.
MAX_MEGAPIXELS = 1000

#: Titles of the option groups, in the retoucher's words.
GROUP_TITLES = {"match": "match", "synthetic": "synthetic grain", "graft": "high-pass graft",
                "freqsep": "frequency separation", "mask": "automatic mask"}


class CliError(Exception):
    """A problem to report in one line."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _help(text: str) -> str:
    """Help text safe for argparse, which reads '%' as a format character."""
    return text.replace("%", "%%")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retexture")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked: reading the installed
    package's metadata costs every other command 20 ms of start-up."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show the program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"retexture {_version()}")
        parser.exit()


# --- Numbers on the command line ---------------------------------------------------------------

def _abbreviated(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def whole_number(text: str) -> int:
    """An int option: plain digits only, and short enough to be a setting (Python
    itself refuses to convert more than 4300 digits, with a message about its own internals)."""
    digits = text.strip().lstrip("+-")
    if not digits.isdigit() or not digits.isascii() or len(digits) > 30:
        raise argparse.ArgumentTypeError(f"'{_abbreviated(text)}' is not a whole number")
    return int(text)


def finite_number(text: str) -> float:
    """A float option that is a real, finite number (no 'inf' or 'nan')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{_abbreviated(text)}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{_abbreviated(text)}' is not a finite number")
    return value


def megapixels(text: str) -> float:
    """--max-pixels: a finite number of megapixels above 0 and at most MAX_MEGAPIXELS."""
    value = finite_number(text)
    if not 0 < value <= MAX_MEGAPIXELS:
        raise argparse.ArgumentTypeError(f"give a number of megapixels above 0 and at most {MAX_MEGAPIXELS} "
                                         f"(got {_abbreviated(text)})")
    return value


# --- Options generated from the settings -----------------------------------------------------

def _method_options() -> dict[str, tuple[object, list[str]]]:
    """Command-line flag -> (its Spec, the sections it belongs to), in declaration order."""
    options: dict[str, tuple[object, list[str]]] = {}
    for section in (*METHODS, "mask"):
        for spec in SECTIONS[section].specs():
            flag = spec.flag or spec.name.replace("_", "-")
            options.setdefault(flag, (spec, []))[1].append(section)
    return options


def _add_setting(group, flag: str, spec, sections: list[str]) -> None:
    dest = flag.replace("-", "_")
    if spec.kind == "bool":
        # A switch turns the setting away from its default (--color-grain: monochrome grain off).
        state = "off" if spec.default else "on"
        group.add_argument(f"--{flag}", dest=dest, action="store_const", const=not spec.default, default=None,
                           help=_help(f"{spec.label}: {state} (default {'on' if spec.default else 'off'}). "
                                      f"{spec.help}"))
        return
    defaults = {s: SECTIONS[s].spec(spec.name).default for s in sections}
    if len(set(defaults.values())) == 1:
        default_text = f"default {spec.default if spec.choices else number_text(spec.default)}"
    else:
        default_text = "default " + ", ".join(f"{GROUP_TITLES[s]} {number_text(v)}" for s, v in defaults.items())
    text = f"{spec.help} ({spec.range_text()}; {default_text})"
    kwargs = {"choices": spec.choices} if spec.choices else {
        "type": whole_number if spec.kind == "int" else finite_number}
    group.add_argument(f"--{flag}", dest=dest, metavar=None if spec.choices else "N", help=_help(text),
                       **kwargs)


def add_setting_options(parser) -> None:
    """Every method and mask setting as an option, grouped by method; options that
    several methods share apply to the chosen method."""
    groups: dict[str, object] = {}
    for flag, (spec, sections) in _method_options().items():
        if len(sections) > 1:
            title = "settings of the chosen method (" + ", ".join(GROUP_TITLES[s] for s in sections) + ")"
        else:
            title = GROUP_TITLES[sections[0]]
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        _add_setting(groups[title], flag, spec, sections)


def preset_from_args(args) -> Preset:
    """The preset file (or defaults) with the command-line options applied."""
    preset = Preset.load(args.preset) if args.preset else Preset()
    if args.method:
        preset = preset.replace(method=args.method)
    if args.no_align:
        preset = preset.replace(align=False)
    changes: dict[str, dict] = {}
    for flag, (spec, sections) in _method_options().items():
        value = getattr(args, flag.replace("-", "_"), None)
        if value is None:
            continue
        section = sections[0]
        if len(sections) > 1:
            section = preset.method
            if section not in sections:
                raise SettingsError(f"--{flag} does not apply to {METHOD_LABELS[section].split(' (')[0].lower()} "
                                    f"(it is a setting of {', '.join(GROUP_TITLES[s] for s in sections)}).")
        changes.setdefault(section, {})[spec.name] = value
    for section, values in changes.items():
        preset = preset.replace(**{section: getattr(preset, section).replace(**values)})
    return preset


# --- The parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="retexture",
                           description="Give back the skin texture that AI retouching wiped away.")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    p = sub.add_parser("restore", help="restore texture onto an AI-retouched image",
                       description="Restore skin texture onto RETOUCHED using ORIGINAL.")
    p.add_argument("original", help=f"the photo before AI retouching: a developed file or the camera's RAW file "
                                    f"({RAW_READABLE}), developed here in a fixed way")
    p.add_argument("retouched", help="the AI-retouched photo (the base; keeps its size and format)")
    p.add_argument("-o", "--output", required=True,
                   help="output file (.jpg, .png, .tif, .webp or .heic; a HEIC result takes tens of seconds to encode; "
                        "default format: the retouched image's)")
    p.add_argument("--method", choices=METHODS,
                   help="match (default: every smoothed band back to the original's energy), synthetic grain, "
                        "high-pass graft, or frequency separation")
    p.add_argument("--mask", default="auto",
                   help="'auto' (skin mask from face landmarks, the default), 'none' (whole image) or a mask image file")
    p.add_argument("--preset", help="JSON preset with the settings (options below override it)")
    p.add_argument("--save-preset", metavar="FILE", help="also write the settings used to this .json preset (written with the result, "
                        "or neither is)")
    p.add_argument("--no-align", action="store_true", help="do not align the original onto the retouched image")
    p.add_argument("--max-pixels", type=megapixels, default=DEFAULT_MAX_PIXELS / 1e6, metavar="MP",
                   help=f"refuse images larger than this many megapixels (above 0, at most {MAX_MEGAPIXELS}; "
                        f"default {number_text(DEFAULT_MAX_PIXELS / 1e6)})")
    add_setting_options(p)

    p = sub.add_parser("metrics", help="texture ratios of the AI image and a result, as JSON",
                       description="Band energies of RETOUCHED and RESTORED relative to ORIGINAL, as JSON.")
    p.add_argument("original", help="the photo before AI retouching (a developed file or the camera's RAW file)")
    p.add_argument("retouched", help="the AI-retouched photo")
    p.add_argument("restored", help="the restored photo")
    p.add_argument("--mask", help="mask image (default: whole image)")

    p = sub.add_parser("mask", help="write the automatic skin mask of a photo as an 8-bit PNG",
                       description="Find the faces in IMAGE and write their skin mask (white = skin).")
    p.add_argument("image", help="the photo to find faces in")
    p.add_argument("-o", "--output", required=True, help="mask file to write (.png)")
    for spec in MaskSettings.specs():
        p.add_argument(f"--{spec.name}", type=finite_number, default=spec.default, metavar="F",
                       help=_help(f"{spec.help} ({spec.range_text()}; default {number_text(spec.default)})"))

    _add_batch_parser(sub)
    return parser


def _add_batch_parser(sub) -> None:
    # From the settings, not processing.batch: the process pool's modules
    # would cost every command 30 ms of start-up.
    from processing.settings import FAST_ALIGN_SIDE

    p = sub.add_parser(
        "batch", help="restore a folder of retouched photos from a folder of originals",
        description="Pair ORIGINALS and RETOUCHED by file name, restore the skin texture of each pair "
                    "into OUT_DIR (format, depth, ICC and EXIF of the retouched file), and write "
                    "report.csv, report.json and contact_sheet.png there.")
    p.add_argument("originals", help="folder of the photos before AI retouching (developed files or camera RAW "
                                     "files; a RAW beside a JPEG of the same name is the one used)")
    p.add_argument("retouched", help="folder of the AI-retouched photos (may be the originals folder with --suffix)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR",
                   help="folder for the results and the report (created if missing; never an input folder)")
    p.add_argument("--preset", help="JSON preset with the settings (default: the built-in defaults)")
    p.add_argument("--jobs", type=whole_number, default=None,
                   help="worker processes (default: all cores; 1 = one at a time)")
    p.add_argument("--overwrite", action="store_true", help="redo pairs whose output already exists")
    p.add_argument("--suffix", default="",
                   help="ending of the retouched files' names to ignore when pairing, e.g. _retouched")
    p.add_argument("--fast-align", action="store_true",
                   help=_help(f"estimate the alignment on {FAST_ALIGN_SIDE} px copies instead of 1500: about 40 % "
                              "less time per 24 MP pair; pairs on the same pixel grid come out the same, but a "
                              "small local warp (liquify) may go undetected"))
    p.add_argument("--masks", metavar="MASK_DIR",
                   help="folder of mask images named like the photos (or NAME_mask.png); "
                        "photos without one get the automatic mask")


# --- Commands ----------------------------------------------------------------------------------

def cmd_restore(args) -> int:
    from processing.image_io import header_pixels
    from processing.memory import for_one_restore
    from processing.pipeline import apply, plan, prepare_pair

    sizes = [header_pixels(path) for path in (args.original, args.retouched)]
    for_one_restore(None if None in sizes else max(sizes))()  # before any thread starts
    files = CommandFiles()
    files.read(args.original, "original")
    files.read(args.retouched, "retouched photo")
    mask = args.mask
    if mask not in ("auto", "none"):
        files.read(mask, "mask")
    if args.preset:
        files.read(args.preset, "preset")
    out = files.write(args.output, "result")
    preset_path = files.write(args.save_preset, "saved preset") if args.save_preset else None
    files.check()  # every output against every input and the others, before any work
    fmt = output_format(out, None) if out.suffix else None
    if preset_path is not None and preset_path.suffix.lower() != ".json":
        raise CliError(f"Save the preset under a .json name (got {preset_path.name}).")
    preset = preset_from_args(args)
    pair = prepare_pair(args.original, args.retouched, mask, preset, max_pixels=int(args.max_pixels * 1e6),
                        align_hint="drop --no-align")
    for note in pair.notes:
        print(note)
    if pair.alignment is not None and not pair.alignment.identity:
        print(pair.alignment.summary())
    if pair.mask_message:
        print(pair.mask_message)
    restore_plan = plan(pair, preset)
    decided = restore_plan.summary()
    if decided:
        print(decided)
    result = apply(restore_plan)
    ai = pair.retouched
    del pair, restore_plan  # only the result is written: free the photos before the encoder copies it
    fmt = fmt or ai.format
    contents = {out: encode_image(result, fmt, ai.alpha, ai.icc_profile, ai.exif)}
    if preset_path is not None:
        contents[preset_path] = preset.to_json().encode()
    files.write_all(contents)
    depth = {8: "8-bit", 16: "16-bit", 32: "32-bit float"}[ai.bit_depth] if fmt in ("PNG", "TIFF") else "8-bit"
    saved = f" and the settings to {preset_path}" if preset_path is not None else ""
    print(f"Restored with {describe(preset)}; wrote {out} ({depth} {fmt}){saved}.")
    return 0


def describe(preset: Preset) -> str:
    """The method and its main settings, in a few words."""
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
    from processing.image_io import match_layout
    from processing.metrics import texture_report

    images = [read_image(args.original, allow_raw=True), read_image(args.retouched), read_image(args.restored)]
    shapes = {im.pixels.shape[:2] for im in images}
    if len(shapes) != 1:
        sizes = ", ".join(f"{im.size[0]}x{im.size[1]}" for im in images)
        raise CliError(f"The three images must have the same size (got {sizes}); align them first.")
    pixels = [im.pixels for im in images]
    pixels = [match_layout(p, pixels[1]) for p in pixels]
    mask = read_mask(args.mask, pixels[1].shape) if args.mask else None
    if mask is not None and not np.any(mask > 0):
        raise CliError(f"The mask {Path(args.mask).name} selects no pixels (it is black everywhere); "
                       "there is nothing to measure.")
    report = texture_report(*pixels, mask)
    print(json.dumps(json_ready(report), indent=2, allow_nan=False))
    return 0


def json_ready(value):
    """``value`` with numpy numbers as floats and undefined ones (NaN, infinity:
    a band coarser than a tiny image, a ratio to a flat original) as ``None``,
    which JSON writes as ``null``; strict JSON has no NaN."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating, np.integer)) and not isinstance(value, bool):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def cmd_mask(args) -> int:
    from processing.dtypes import to_uint8
    from processing.skin_mask import propose_skin_mask

    MaskSettings(forehead=args.forehead, feather=args.feather)  # validates the ranges
    files = CommandFiles()
    files.read(args.image, "photo")
    given = Path(args.output)
    if given.suffix.lower() not in (".png", ""):
        raise CliError(f"Write the mask as PNG (got {given.name}); JPEG would blur its edges.")
    # A bare name gets '.png'; an existing folder stays as given so that it is refused.
    out = files.write(given if given.suffix or given.is_dir() else given.with_suffix(".png"), "mask")
    files.check()
    image = read_image(args.image)
    proposal = propose_skin_mask(image.pixels, forehead=args.forehead, feather=args.feather)
    files.write_all({out: encode_image(to_uint8(proposal.mask), "PNG")})
    print(proposal.message)
    print(f"Wrote {out}.")
    return 0


def cmd_batch(args) -> int:
    from processing.batch import run_batch_command

    return run_batch_command(args)


def main(argv=None, *, end_process: bool = False) -> int:
    """Run one command; returns its exit status.

    ``end_process`` (the console script): a command that started no process of
    its own ends the process as soon as its files are written and its words
    printed, without the interpreter's teardown (unloading numpy, OpenCV and
    the face model: 0.05 s of a one-second restore).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    one_blas_thread()
    code = _run_command(args)
    if end_process and args.command in ENDS_PROCESS:
        _end_process(code)
    return code


#: Commands after which the process may end without the interpreter's
#: teardown: they start no process and leave no file open (a batch's pool
#: and its helpers shut down through the teardown).
ENDS_PROCESS = ("restore", "metrics", "mask")


def _end_process(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or gone: nothing more to say there
            pass
    os._exit(code)


def run() -> None:
    """The ``retexture`` console script and ``python -m processing``."""
    sys.exit(main(end_process=True))


def _run_command(args) -> int:
    handlers = {"restore": cmd_restore, "metrics": cmd_metrics, "mask": cmd_mask, "batch": cmd_batch}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("retexture: interrupted; nothing half-written was left behind.", file=sys.stderr)
        return 130
    except (CliError, ImageReadError, ImageWriteError, SettingsError, FaceModelError, ValueError, OSError) as exc:
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
    run()
