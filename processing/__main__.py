"""``python -m processing`` does what the ``retexture`` console script does."""

import sys

from processing.cli import main

sys.exit(main())
