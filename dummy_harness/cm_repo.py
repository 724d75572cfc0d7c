"""`python -m dummy_harness.cm_repo`: the command README shows; the code is cm/repo.py."""
import sys

from .cm.repo import main

if __name__ == "__main__":
    sys.exit(main())
