"""``python -m backend.cli``."""

import sys

from . import main

sys.exit(main())
