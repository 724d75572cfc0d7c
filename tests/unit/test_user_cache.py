"""What the harness keeps between runs (datasets, fitted stand-ins, the CM flag cache) lives in the user's cache:
$XDG_CACHE_HOME, else ~/.cache."""
from dummy_harness import dataset, host
from dummy_harness.cm import flags as cm_flags


class Automation:
    """A stand-in for the running tool's script automation: its own source is this test folder."""

    def run(self, i):
        return i.get("quiet")


def test_datasets_and_the_flag_cache_go_under_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ours = tmp_path / "xdg" / "mlperf-dummy-harness"
    assert dataset.default_root() == str(ours / "datasets")
    keys, _ = cm_flags.tool_flags(Automation())
    assert "quiet" in keys
    assert len(list(ours.glob("tool-flags-MLCFlow-*.json"))) == 1


def test_without_xdg_cache_home_it_is_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert host.user_cache() == str(tmp_path / ".cache" / "mlperf-dummy-harness")
