"""`python -m wan_compat` runs the `wan-compat` command line."""
from .compat.cli import main

raise SystemExit(main())
