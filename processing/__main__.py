"""``python -m processing`` does what the ``retexture`` console script does."""

from processing.cli import run

run()
