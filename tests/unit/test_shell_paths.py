"""A path flag may hold anything people put in folder names: the harness gets it as it is, and the shell of the CM
and MLCFlow runners only sees plain names. The shell part is checked the way the runners use it: CM's tmp-run.sh
`export K="V"` of every env value, then benchmark-program's `cd ${CM_RUN_DIR}` (unquoted) and
`eval "$CM_RUN_CMD 2>&1 | tee '<logs dir>/console.out'"`, in a real bash."""
import os
import subprocess
from pathlib import Path

import pytest

from dummy_harness import rundir
from dummy_harness.cm import shell_paths
from dummy_harness.cm.env import check_env_paths, config_from_env, path_env, runner_env
from dummy_harness.config import ConfigError, parse_options, read_options_file

BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}
# The hostile-value table: each entry is a folder name (no `/`, which no folder name holds).
HOSTILE = ["a b", "résultats ü", "Application Support", "it's", 'say "hi"', "$HOME", "${HOME}", "$(touch PWNED)",
           "`touch PWNED`", "a;touch PWNED", "a|touch PWNED", "a && touch PWNED", "a>PWNED", "a<b", "back\\slash",
           "*", "?x", "[ab]", "!x", "#x", "-rf", "~x", "%s", "{a,b}", "a\u00a0b", "日本語", "emoji 🎉",
           "résultats ü $HOME 'q' \"dq\" `touch PWNED` $(touch PWNED); touch PWNED"]
# What a path may not hold: it would split LoadGen's logs and ours.
CONTROL = ["a\nb", "a\rb", "a\tb", "a\x1bb"]

RUNNER = """cd ${CM_RUN_DIR}
pwd -P
eval "$CM_RUN_CMD 2>&1 | tee '${CM_LOGS_DIR}/console.out'; echo \\${PIPESTATUS[0]} > exitstatus"
"""


def cm_script(env) -> str:
    """What CM's tmp-run.sh starts with: `export K="V"` for every env value, unescaped (cm-facts.md)."""
    return "".join(f'export {key}="{value}"\n' for key, value in env.items())


@pytest.mark.parametrize("name", HOSTILE)
def test_a_risky_folder_name_reaches_the_harness_and_the_runner_sees_a_plain_one(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "user.conf").write_text("resnet50.Offline.min_query_count = 64\n")
    given = {"output_dir": str(folder / "out"), "dataset_dir": str(folder / "ds"),
             "user_conf": str(folder / "user.conf")}
    cfg = config_from_env(BASE, given)
    assert (cfg.output_dir, cfg.dataset_dir, cfg.user_conf) == tuple(given.values())
    rundir.prepare(cfg)
    env = runner_env(cfg, "/bin/echo")          # echo stands in for the interpreter: it shows what it was given
    p = subprocess.run(["bash", "-c", cm_script(env) + RUNNER], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    cwd, echoed = p.stdout.splitlines()
    assert cwd == os.path.realpath(cfg.run_dir)                                  # the runner ran in the run folder
    options_file = Path(cfg.run_dir) / "run_options.json"
    assert echoed.split() == ["-m", "dummy_harness", f"--options_file={Path(env['CM_RUN_DIR']) / options_file.name}"]
    assert (Path(cfg.run_dir) / "console.out").read_text().strip() == echoed    # its tee landed there
    assert parse_options(read_options_file(str(options_file))) == cfg           # the harness gets the same run
    # Every path the script exports to CM is intact in bash, or a plain link to the same place.
    exported = {**env, **path_env(cfg)}
    p = subprocess.run(["bash", "-c", cm_script(exported) + 'printf "%s\\n" "$CM_MLPERF_OUTPUT_DIR"'],
                       capture_output=True, text=True, cwd=tmp_path)
    assert os.path.realpath(p.stdout.rstrip("\n")) == os.path.realpath(cfg.output_dir)
    assert shell_paths.is_plain(env["CM_RUN_DIR"]) and os.path.realpath(env["CM_RUN_DIR"]) == \
        os.path.realpath(cfg.run_dir)
    assert not list(tmp_path.rglob("PWNED")) and not os.path.exists("PWNED")


@pytest.mark.parametrize("name", HOSTILE)
def test_through_env_a_path_is_refused_when_bash_would_read_it(tmp_path, name):
    value = str(tmp_path / name)
    active = any(c in name for c in "\"$`\\")
    if active:
        with pytest.raises(ConfigError, match=r"^--env\.CM_MLPERF_OUTPUT_DIR=.*; pass it as --output_dir=\.\.\. "):
            check_env_paths({**BASE, "CM_MLPERF_OUTPUT_DIR": value})
    else:
        check_env_paths({**BASE, "CM_MLPERF_OUTPUT_DIR": value})
        assert config_from_env({**BASE, "CM_MLPERF_OUTPUT_DIR": value}).output_dir == value


@pytest.mark.parametrize("value", CONTROL)
def test_a_control_character_in_a_path_is_one_clear_line(value):
    with pytest.raises(ConfigError) as err:
        config_from_env(BASE, {"output_dir": value})
    assert str(err.value).startswith("--output_dir=") and "control character" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_plain_path_stands_for_itself_and_a_link_is_reused(tmp_path):
    plain = tmp_path / "plain_name-1.2"
    assert shell_paths.plain_path(str(plain)) == str(plain) == shell_paths.env_path(str(plain))
    assert shell_paths.env_path(str(tmp_path / "a b")) == str(tmp_path / "a b")      # intact in double quotes
    risky = str(tmp_path / "a $b")
    link = shell_paths.plain_path(risky)
    assert link == shell_paths.plain_path(risky) and os.readlink(link) == risky
    folder = os.path.dirname(link)
    assert os.stat(folder).st_mode & 0o077 == 0 and os.stat(folder).st_uid == os.getuid()


def test_the_options_file_errors_are_one_line(tmp_path):
    for text, needle in (("{", "is not JSON"), ("[1]", "does not hold a JSON object")):
        path = tmp_path / "x é.json"
        path.write_text(text)
        with pytest.raises(ConfigError, match=needle) as err:
            read_options_file(str(path))
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_options_file(str(tmp_path / "missing.json"))
