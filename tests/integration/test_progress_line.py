"""The progress line as users see it: new lines when stdout is not a terminal (under CM's tee, in CI), one line
redrawn in place on a terminal, none with --progress=off; it always ends before LoadGen's summary."""
import os
import re

from conftest import start_dummy_harness

SUMMARY = "================================================\nMLPerf Results Summary"
# 1.5 s of SingleStream at least: long enough for a line (the thread looks every second), short for a test. The
# 1 ms expected latency makes LoadGen generate enough queries for 1.5 s of a fast machine (with its 10 ms default
# a 1 ms/query machine ran out of queries after 0.3 s: "Min duration satisfied: NO").
USER_CONF = ("resnet50.SingleStream.min_duration = 1500\nresnet50.SingleStream.min_query_count = 64\n"
             "resnet50.SingleStream.target_latency = 1\n")
LATENCIES = r"p90 [\d.]+ ms, p99 [\d.]+ ms \(p90 target [\d.]+ ms\)"
RUNNING = re.compile(r"SingleStream: \d+ of 64\+ queries, 0:0\d of 0:02\+ \(\d+%\), (~0:\d\d left|time left not "
                     r"known yet)(, " + LATENCIES + ")?")
FINAL = re.compile(r"SingleStream: done, \d+ queries in 0:0\d, " + LATENCIES)


def test_not_on_a_terminal_progress_lines_come_before_the_summary_and_off_prints_none(harness, tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text(USER_CONF)
    r = harness("--scenario=SingleStream", f"--user_conf={conf}", f"--output_dir={tmp_path / 'o'}")
    assert r.returncode == 0, r.output[-3000:]
    before, summary, _ = r.stdout.partition(SUMMARY)
    assert summary, r.stdout[-3000:]
    lines = [line for line in before.splitlines() if line.startswith("SingleStream:")]
    assert len(lines) >= 2 and all(RUNNING.fullmatch(line) for line in lines[:-1]), lines
    assert FINAL.fullmatch(lines[-1]) and before.endswith(lines[-1] + "\n"), before[-500:]
    assert "SingleStream:" not in r.stdout.partition(SUMMARY)[2]

    off = harness("--scenario=SingleStream", f"--user_conf={conf}", f"--output_dir={tmp_path / 'off'}",
                  "--progress=off")
    assert off.returncode == 0, off.output[-3000:]
    assert SUMMARY in off.stdout and "SingleStream:" not in off.stdout


def test_on_a_terminal_one_line_is_redrawn_in_place_and_ends_before_the_summary(tmp_path, dataset_dir):
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))     # 40 rows, 200 columns
    with start_dummy_harness("--scenario=Server", "--count=60", "--target_qps=50", f"--output_dir={tmp_path / 'o'}",
                             f"--dataset_dir={dataset_dir}", cwd=tmp_path, stdout=terminal, text=False) as proc:
        os.close(terminal)
        out = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:          # the terminal closed: the harness has ended
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=240)
        os.close(controller)
    text = out.decode()
    assert proc.returncode == 0, text[-2000:] + proc.stderr.read().decode()[-2000:]
    # The terminal turns "\n" into "\r\n": draws are "\r" + the line, with no newline between them.
    first = text.index("\rServer: ")
    line, summary = text[first:].split("\r\n", 1)
    draws = [d.rstrip() for d in line.split("\r") if d]
    assert len(draws) >= 3, draws
    assert any(re.fullmatch(r"Server: \d+ of 60 queries \(\d+%\), 0:0\d elapsed, ~0:0\d left, p90 [\d.]+ ms, "
                            r"p99 [\d.]+ ms \(p99 bound 15 ms\)", d) for d in draws), draws
    assert re.fullmatch(r"Server: done, 60 queries in 0:0\d, p90 [\d.]+ ms, p99 [\d.]+ ms \(p99 bound 15 ms\)",
                        draws[-1]), draws
    assert summary.startswith(SUMMARY.replace("\n", "\r\n")), summary[:300]
