"""MLPerf Inference dummy harness: LoadGen driving PyTorch stand-ins with each benchmark's real I/O contract."""
__version__ = "0.1.0"
