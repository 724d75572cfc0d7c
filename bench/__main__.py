"""python -m bench [--quick]: run the harness benchmarks; the last line printed is one JSON object."""
import argparse
import json
import platform

from . import harness_efficiency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite starts")
    args = parser.parse_args()
    seconds, repeats = (0.2, 1) if args.quick else (2.0, 3)
    figures = {"harness_efficiency": harness_efficiency.measure(seconds=seconds, repeats=repeats)}
    for name, rows in figures.items():
        print(name)
        for key, row in rows.items():
            print(f"  {key:28s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    figures["machine"] = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
