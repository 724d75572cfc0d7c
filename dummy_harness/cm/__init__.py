"""The CM and MLCFlow glue: env and flags -> the harness's options (env.py), the flags a call got (flags.py), the
wrapper repository and the Docker export (repo.py), plain-named stand-ins for paths a shell reads
(shell_paths.py), and the generated parts of _cm.yaml and README (generate.py). Nothing here imports torch."""
