"""`python -m ml <command> --pipeline NAME ...`."""

import sys

from ml.cli import main

sys.exit(main())
