"""One declaration per option: the CLI, the CM env table, the CM GUI metadata and RunConfig all read options.py."""
from dataclasses import fields

import yaml

from dummy_harness import cli, options
from dummy_harness.cm import env as cm_env
from dummy_harness.config import RunConfig, parse_options

from conftest import ROOT
META = yaml.safe_load((ROOT / "_cm.yaml").read_text())
# Read by parse_options to resolve RunConfig.target_qps / target_latency for the scenario: not fields themselves.
PER_SCENARIO = {"offline_target_qps", "server_target_qps", "singlestream_target_latency",
                "multistream_target_latency"}


def _cli_actions():
    """The CLI's option flags (not --help, nor --options_file, which says where options are)."""
    return {a.option_strings[0][2:]: a for a in cli.make_parser()._actions if a.option_strings[0].startswith("--")
            and a.option_strings[0] not in ("--help", f"--{cli.OPTIONS_FILE_FLAG}")}


def test_every_option_is_a_cli_flag_with_its_declared_help():
    actions = _cli_actions()
    assert list(actions) == list(options.OPTION_NAMES)
    for name, action in actions.items():
        option = options.BY_NAME[name]
        assert action.help.replace("%%", "%") == option.describe(choices=True)
        assert (action.nargs == "?" and action.const is True) == option.switch, \
            f"--{name}: a yes/no option is a bare flag that also takes =yes|no"


def test_a_yes_no_flag_is_bare_or_takes_yes_or_no_as_under_cm():
    parse = cli.make_parser().parse_args
    assert parse(["--report"]).report is True and parse(["--report=yes"]).report == "yes"
    assert parse([]).report is None
    from dummy_harness.config import parse_options
    assert parse_options({"report": parse(["--report=no"]).report}).report is False
    assert parse_options({"report": parse(["--report"]).report}).report is True


def test_the_cli_and_the_cm_gui_say_the_same_thing():
    actions = _cli_actions()
    for flag, entry in META["input_description"].items():
        option = options.BY_NAME.get(flag)
        if option is None or not option.harness:
            continue                                     # an alias, or a flag CM only passes on
        assert actions[flag].help.replace("%%", "%").startswith(entry["desc"].split(" (default")[0]), flag


def test_every_runconfig_field_is_an_option_with_its_default():
    names = {f.name for f in fields(RunConfig)}
    assert names == set(options.OPTION_NAMES) - PER_SCENARIO
    for f in fields(RunConfig):
        assert f.default == options.default(f.name), f"{f.name}: RunConfig's default is not the option's"
    assert parse_options({}) == RunConfig()


def test_every_cm_env_key_reads_its_option():
    for option in options.OPTIONS:
        if option.harness:
            assert cm_env.ENV_TO_OPTION[option.env] == option.name
    assert len(set(cm_env.ENV_TO_OPTION)) == len([o for o in options.OPTIONS if o.harness])


def test_a_cm_flag_and_its_cli_flag_give_the_same_configuration(tmp_path):
    env = {"CM_MODEL": "bert-99", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch",
           "CM_MLPERF_LOADGEN_SCENARIO": "server", "CM_MLPERF_LOADGEN_SERVER_TARGET_QPS": "12.5",
           "CM_MLPERF_OUTPUT_DIR": str(tmp_path), "CM_RERUN": "yes", "CM_MLPERF_MODEL_PRECISION": "fp16"}
    cfg = cm_env.config_from_env(env)
    args = cli.make_parser().parse_args(cfg.to_argv())
    assert parse_options({k: v for k, v in vars(args).items() if v is not None}) == cfg
