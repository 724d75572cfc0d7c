"""`python -m dummy_harness.generate`: the command README shows; the code is cm/generate.py."""
import sys

from .cm.generate import main

if __name__ == "__main__":
    sys.exit(main())
