"""The CM GUI page of this script (`cmr "cm gui" --script="..."`) is generated from _cm.yaml alone: the flags from
`input_description`, one selectbox per variation group (ordered by `variation_groups_order`); it names the script by
its alias and shows no title (script.py reads `gui: title` into a variable it never shows). These tests keep that
metadata complete and in step with what the harness accepts, without running CM; tests/integration/test_cm_gui.py
renders the page itself.

The rules below restate how cmx4mlops 1.0.1 reads the meta (repo/script/gui/script.py, function page(), and
repo/script/gui/misc.py, function make_selector()); they are written from reading that code, not copied from it:

* a variation with a non-empty `alias` is skipped entirely;
* a variation whose name ends with `_` is internal and never shown;
* a variation with a group is an option of that group's selectbox, unless the group name starts with `*`;
* a variation without a group (e.g. a combination `a,b`) becomes a checkbox;
* a selected option `X` is put on the command line as the tag `_X`, verbatim;
* every group named in `variation_groups_order` is looked up among the shown groups (a group with no shown
  variation would make the page fail);
* an `input_description` entry needs `desc`; `choices` make a selectbox whose value (the `default`, else the
  first choice) is always emitted as `--flag=value` unless it is ''; `boolean` makes a checkbox, emitted only
  when true.

CM itself (repo/automation/script/module.py, _get_variations_with_aliases() and
_get_name_for_dynamic_variation_tag()) maps `_bs.N` to the variation `bs.#` and refuses an `alias` next to a
`group` or `default`; `bs.#` therefore joins the batch-size group through its alias target.
"""

import pytest
import yaml

from dummy_harness import options
from dummy_harness.cm.env import ENV_TO_OPTION, config_from_env
from dummy_harness.config import ConfigError

from conftest import ROOT
META = yaml.safe_load((ROOT / "_cm.yaml").read_text())
# Path flags are described but not mapped: customize.py reads them from CM's input (see cm/env.py).
FLAGS = {**META["input_mapping"], **{o.name: o.env for o in options.PATHS if o.cm_flag}}
DESC = META["input_description"]
VARIATIONS = META["variations"]

BOOLEAN_FLAGS = {"rerun", "skip_preprocess", "skip_preprocessing", "report", "ship_samples"}
BASE = {"CM_MODEL": "resnet50", "CM_MLPERF_DEVICE": "cpu", "CM_MLPERF_BACKEND": "pytorch"}
# Flags that are only meaningful with another one (the page's help says which) are tried with it.
COMPANIONS = {"compliance_test": {"CM_MLPERF_INFERENCE_SOURCE": str(ROOT)}}


def option_of(flag):
    """The harness option a flag ends up as (flag -> CM env key -> option)."""
    return ENV_TO_OPTION.get(FLAGS[flag])


# A choice that only some benchmarks take, with one that takes it.
CHOICE_COMPANIONS = {("scenario", "Interactive"): {"CM_MODEL": "llama2-70b-99.9"}}


def config_for(flag, value):
    """The run configuration the GUI's `--flag=value` gives, through CM's env (or input) as customize.py reads it."""
    companions = {**COMPANIONS.get(flag, {}), **CHOICE_COMPANIONS.get((flag, value), {})}
    if flag not in META["input_mapping"]:
        return config_from_env({**BASE, **companions}, {flag: value})
    return config_from_env({**BASE, FLAGS[flag]: value, **companions})


def harness_accepts(flag, value):
    if option_of(flag) is None:
        return True
    try:
        config_for(flag, value)
    except ConfigError:
        return False
    return True


def gui_shown_variations():
    """(selectbox options by group, checkbox names): what the GUI page would offer as `_<name>` tags."""
    groups, checkboxes = {}, []
    for name, v in VARIATIONS.items():
        v = v or {}
        if str(v.get("alias", "")).strip():
            continue
        if name.endswith("_"):
            continue
        group = v.get("group", "")
        if not group:
            checkboxes.append(name)
        elif not group.startswith("*"):
            groups.setdefault(group, []).append(name)
    return groups, checkboxes


# ---- flags ----------------------------------------------------------------------------------------------------
def test_every_flag_is_described_and_sorted():
    assert set(DESC) == set(FLAGS), "input_description and input_mapping must name the same flags"
    for flag, d in DESC.items():
        assert isinstance(d, dict), f"{flag}: the GUI needs a dict with desc"
        assert isinstance(d.get("desc"), str) and d["desc"].strip(), f"{flag}: empty desc"
        assert isinstance(d.get("sort"), int) and d["sort"] > 0, f"{flag}: sort must be a positive integer"


CHOICE_FLAGS = sorted(f for f, d in DESC.items() if "choices" in d)


def test_the_flags_with_a_closed_set_offer_it():
    # Every option declared with choices that CM passes as a flag; nothing else is a selectbox.
    assert CHOICE_FLAGS == sorted(o.name for o in options.OPTIONS if o.cm_flag and o.choices)
    assert {"scenario", "mode", "run_style", "model_size", "division", "submission_round",
            "compliance_test"} <= set(CHOICE_FLAGS)


@pytest.mark.parametrize("flag", CHOICE_FLAGS)
def test_every_offered_choice_takes_effect(flag):
    """Each value the GUI offers is accepted by the harness and is what the run then does, not ignored or
    replaced by another value."""
    for choice in [c for c in DESC[flag]["choices"] if c != ""]:
        cfg = config_for(flag, choice)
        assert getattr(cfg, option_of(flag)) == choice, f"--{flag}={choice} is offered but the run ignores it"


def test_mode_all_runs_accuracy_then_performance():
    cfg = config_for("mode", "all")
    assert [run.mode for run in cfg.modes()] == ["accuracy", "performance"]
    assert len({run.run_dir for run in cfg.modes()}) == 2


@pytest.mark.parametrize("flag", CHOICE_FLAGS)
def test_a_value_not_offered_is_refused(flag):
    with pytest.raises(ConfigError, match=f"--{flag}="):
        config_for(flag, "bogus")


def test_a_selectbox_without_default_starts_empty():
    # Otherwise the GUI puts choices[0] on every command (e.g. --scenario=Offline would beat _server).
    for flag, d in DESC.items():
        choices = d.get("choices")
        if choices:
            assert choices.count("") <= 1
            if "" in choices:
                assert choices[0] == "", f"{flag}: '' must come first"
            if "default" not in d:
                assert choices[0] == "", f"{flag}: without a default the GUI would always emit {choices[0]}"


def test_booleans_are_checkboxes_off_by_default():
    assert {f for f, d in DESC.items() if d.get("boolean")} == BOOLEAN_FLAGS
    for flag in BOOLEAN_FLAGS:
        d = DESC[flag]
        assert d["boolean"] is True and "choices" not in d
        assert d.get("default", False) is False, f"{flag}: a true default would be on every GUI command"


def test_every_default_is_accepted():
    for flag, d in DESC.items():
        if "default" not in d:
            continue
        default = d["default"]
        if "choices" in d:
            assert default in d["choices"], f"{flag}: default {default!r} is not one of the choices"
        if default in ("", False):
            continue      # the GUI emits nothing for these
        assert harness_accepts(flag, default), f"{flag}: default {default!r} is refused by the harness"


# ---- variations -----------------------------------------------------------------------------------------------
def test_variation_groups_order_lists_exactly_the_groups():
    order = META["variation_groups_order"]
    assert len(order) == len(set(order))
    used = {(v or {}).get("group") for v in VARIATIONS.values()} - {None}
    hidden = {g for g in used if g.startswith("*")}      # groups the GUI never shows (script.py page())
    assert set(order) == used - hidden
    shown, _ = gui_shown_variations()
    assert set(order) <= set(shown), "a listed group without a shown variation breaks the GUI page"


def test_the_page_is_named_by_the_alias_and_claims_no_title():
    # The GUI never shows `gui: title` (its only `gui` key it acts on is use_customize_func, which replaces the
    # page): the meta carries none, so nobody edits one expecting to see it.
    assert META["alias"] == "reproduce-mlperf-inference-dummy"
    assert "gui" not in META


def test_the_gui_offers_no_placeholder_variation():
    groups, checkboxes = gui_shown_variations()
    offered = [n for names in groups.values() for n in names] + checkboxes
    assert not [n for n in offered if "#" in n], "the GUI would emit an invalid tag such as _bs.#"
    assert "bs.#" in VARIATIONS, "_bs.N on the command line needs bs.#"


def test_dynamic_variations_join_their_group_through_a_hidden_alias():
    for name, v in VARIATIONS.items():
        if not name.endswith(".#"):
            continue
        target = v.get("alias")
        assert target in VARIATIONS, f"{name}: its alias must name a variation"
        assert "group" not in v and "default" not in v, f"{name}: CM refuses alias with group or default"
        assert target.endswith("_"), f"{name}: the alias target must be hidden in the GUI (trailing _)"
        assert VARIATIONS[target].get("group"), f"{name}: the alias target must carry the group"


def test_concrete_batch_sizes_set_their_value():
    sizes = {n: v for n, v in VARIATIONS.items() if (v or {}).get("group") == "batch-size" and "env" in v}
    assert sizes
    for name, v in sizes.items():
        n = name.split(".", 1)[1]
        assert n.isdigit() and v["env"]["CM_MLPERF_LOADGEN_MAX_BATCHSIZE"] == n
        assert harness_accepts("max_batchsize", n)


def test_no_base_variation_is_a_concrete_member_of_a_group():
    # CM adds a concrete base variation unconditionally, so it would clash with any other choice of its group
    # (e.g. retinanet's base bs.1 with _bs.8); through bs.# it is added only when no bs.N was given.
    for name, v in VARIATIONS.items():
        for base in (v or {}).get("base", []):
            if base in VARIATIONS:
                assert not VARIATIONS[base].get("group"), f"{name}: base {base} is a concrete member of a group"
