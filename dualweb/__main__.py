"""``python -m dualweb``: the ``dualweb`` command (see dualweb/cli.py)."""

import sys

from .cli import main

# The guard matters: uvicorn's --reload starts its server in a spawned
# process, which imports this module again under another name.
if __name__ == "__main__":
    sys.exit(main())
