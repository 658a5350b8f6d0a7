"""``python -m creditscore.cli``, as the ``creditscore`` command."""

import sys

from creditscore.cli import main

sys.exit(main())
