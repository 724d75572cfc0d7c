"""MLPerf submissions from the harness's runs: rounds (seeds, checker version, compliance tests), the
open-division tree, the system description, compliance verification and the official checker.

Light to import (config.py reads `rounds`); `make` imports LoadGen only when it runs.
"""
