"""``python -m ttskit.cli``: the ``ttskit`` command."""

import sys

from . import main

sys.exit(main())
