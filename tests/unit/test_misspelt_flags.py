"""A misspelt flag is caught: the pure parts of cm_flags (the edit distance, which flag is meant, the keys a tool's
code reads from its input). tests/integration/test_bad_input.py runs the check through cmr and mlcr, on the
tools' real code."""
import pytest

from dummy_harness.cm import flags as cm_flags


@pytest.mark.parametrize("typed,meant", [("scenaro", "scenario"), ("Scenario", "scenario"), ("scneario", "scenario"),
                                         ("cout", "count"), ("output-dir", "output_dir"), ("outputdir", "output_dir"),
                                         ("usr_conf", "user_conf"), ("reun", "rerun"), ("modell", "model"),
                                         ("nonexistent_flag", None), ("foo", None), ("tag", None)])
def test_the_flag_meant_is_a_few_edits_away(typed, meant):
    candidates = [*cm_flags.script_flags(), *cm_flags.cli_only()]
    assert cm_flags.closest(typed, candidates) == meant


def test_edit_distance_counts_a_swap_as_one():
    assert cm_flags.edits("scenario", "scneario") == 1 and cm_flags.edits("abc", "abc") == 0
    assert cm_flags.edits("kitten", "sitting") == 3 and cm_flags.edits("", "ab") == 2


def test_this_scripts_flags_are_options_py_and_the_rest_say_how_to_set_them():
    flags = cm_flags.script_flags()
    assert flags["skip_preprocessing"] == "skip_preprocess" and "scenario" in flags and "model" not in flags
    only = cm_flags.cli_only()
    assert only["model"] == "use the model variation" and only["device"] == "use _cpu, _cuda"
    assert only["watchdog_s"] == "use --env.CM_MLPERF_DUMMY_WATCHDOG_S=VALUE"


def test_the_keys_a_tool_reads_are_found_in_its_code():
    source = '''
class Automation:
    def __init__(self):
        self.flags_to_env = ['input', 'output']

    def run(self, i):
        quiet = i.get('quiet', False)
        if 'tags' in i and i['env']:
            i['cmd_seen'] = True
        for key in self.flags_to_env:
            value = i.get(key, '')
        for key in ["env", "state"]:
            if i.get("local_" + key):
                pass
        image = i.get('docker_' + name)
        gpus = i.get(f'slurm_{name}')
        for k in i:
            if k.startswith('remote_'):
                pass
        other = d.get('not_an_input_key')
'''
    keys, prefixes = cm_flags.keys_in_source(source)
    assert keys == {"quiet", "tags", "env", "cmd_seen", "input", "output", "local_env", "local_state"}
    assert prefixes == {"docker_", "slurm_", "remote_"}

