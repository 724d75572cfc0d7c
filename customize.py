"""CM adapter of the dummy harness: env and flags -> one RunConfig -> an options file and one shell-safe command;
logs -> env and state.

All MLPerf logic lives in the dummy_harness package; this file only validates, translates and reports.
Errors are returned as {'return': 1, 'error': '<one line>'}, never raised.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _harness():
    """The harness package, as the command CM runs will import it (same interpreter)."""
    try:
        import dummy_harness  # noqa: F401
    except ImportError:
        return None, (f"the dummy_harness package is not installed for {sys.executable}; "
                      f"run: {sys.executable} -m pip install -e {HERE}")
    from dummy_harness import config, report, rundir
    from dummy_harness.cm import env as cm_env
    return (cm_env, config, report, rundir), None


def _config(i):
    """The run configuration of CM's env and of the path flags in CM's input (paths never go through env)."""
    mods, error = _harness()
    if error:
        return None, None, error
    cm_env, config = mods[0], mods[1]
    try:
        return mods, cm_env.config_from_env(i['env'], i.get('input', {})), None
    except config.ConfigError as exc:
        return None, None, str(exc)


def predeps(i):
    """Check every flag before any dependency runs: a misspelt flag, and values CM would hand to bash (it re-reads
    env values in each dep's generated tmp-run.sh, so shell syntax there must be refused before detect,os)."""
    mods, error = _harness()
    if error:
        return {'return': 1, 'error': error}
    from dummy_harness.cm import flags as cm_flags
    error, warnings = cm_flags.check(i.get('input', {}), i['automation'])
    for warning in warnings:
        print(warning)
    if error:
        return {'return': 1, 'error': error}
    cm_env, config = mods[0], mods[1]
    for note in cm_env.deprecated_env(i['env']):
        print(note)
    try:
        cm_env.check_env_paths(i['env'])
        cm_env.check_passthrough(i['env'])
        cm_env.check_interpreter(sys.executable)
    except config.ConfigError as exc:
        return {'return': 1, 'error': str(exc)}
    error = _config(i)[2]
    return {'return': 1, 'error': error} if error else {'return': 0}


def preprocess(i):
    if i['os_info']['platform'] == 'windows':
        return {'return': 1, 'error': 'the dummy harness runs on Linux and macOS only'}
    env, state = i['env'], i['state']
    mods, cfg, error = _config(i)
    if error:
        return {'return': 1, 'error': error}
    cm_env, config, report, rundir = mods

    if cm_env.needs_availability_check(cfg):
        reason = cm_env.availability_check(sys.executable, cfg.backend, cfg.device)
        if reason:
            return {'return': 1, 'error': reason}

    run_input = i.get('run_script_input', {})
    run_state = run_input.get('run_state', {}) or {}
    state['mlperf-inference-implementation'] = {
        'script_id': f"{i['meta']['alias']},{i['meta']['uid']}:{run_input.get('variation_tags_string', '')}",
        'script_tags': ','.join(i['meta'].get('tags', [])),
        'script_path': HERE,
        'version_info': run_state.get('version_info', []),
    }
    # A stored VALID result of the same configuration is returned, not run again (unless --rerun); anything
    # else in the way is kept aside. With --mode=all the harness makes that choice per mode itself.
    runs = cfg.modes()
    # A submission decides run by run itself (it reuses stored VALID runs, then writes its tree every time).
    stored = [None if cfg.rerun or cfg.submission_dir else rundir.stored_result(run) for run in runs]
    if all(stored):
        print(f"A VALID result of this configuration is already in {runs[-1].run_dir}: not repeated "
              "(pass --rerun to run it again; the old logs are kept aside).")
        env['CM_MLPERF_SKIP_RUN'] = 'yes'
        env['CM_MLPERF_RESULT_REUSED'] = 'yes'
    for run, kept in zip(runs, stored):
        if kept or cfg.submission_dir:
            continue
        try:
            rundir.check_unlocked(run)
            moved = rundir.prepare(run)
        except rundir.RunDirError as exc:
            return {'return': 1, 'error': str(exc)}
        if moved:
            print(f"Previous contents of {run.run_dir} kept in {moved}")

    env['CM_MLPERF_SUT_NAME'] = cfg.sut_name
    for run in runs:
        print(f"Run folder: {run.run_dir}")
    if all(stored):
        return {'return': 0}
    try:
        env.update(cm_env.runner_env(cfg, sys.executable))    # writes the options file the command names
    except config.ConfigError as exc:
        return {'return': 1, 'error': str(exc)}
    print(f"Options: {cm_env.options_line(cfg)}")
    print(f"Command: {env['CM_RUN_CMD']}")
    return {'return': 0}


def postprocess(i):
    env, state = i['env'], i['state']
    mods, cfg, error = _config(i)
    if error:
        return {'return': 1, 'error': error}
    cm_env, config, report, _rundir = mods
    from dummy_harness.loadgen.detail_log import parse_detail_log
    if env.get('CM_MLPERF_SKIP_RUN') == 'yes' and env.get('CM_MLPERF_RESULT_REUSED') != 'yes':
        return {'return': 0}   # prepared only (--env.CM_MLPERF_SKIP_RUN=yes)

    for run in cfg.modes():
        results = report.read_results(run.run_dir)
        if results is None:
            return {'return': 1, 'error': f"the harness left no results.json in {run.run_dir} (see console.out)"}
        if not results.ok:
            return {'return': 1, 'error': f"run {results.status}: {results.failure or 'see results.json'}"}
        # Cross-check against LoadGen's own log: results.json must not claim more than the log says.
        detail = parse_detail_log(run.run_dir)
        if detail.errors:
            return {'return': 1, 'error': f"LoadGen logged {len(detail.errors)} error(s): {detail.errors[0]}"}
        if run.mode == 'performance' and (detail.validity == 'VALID') != results.valid:
            return {'return': 1, 'error': f"results.json disagrees with {run.run_dir}/mlperf_log_detail.txt"}

        try:
            env.update(cm_env.env_from_results(run, results))
        except config.ConfigError as exc:     # no plain-named stand-in for a risky path could be made
            return {'return': 1, 'error': str(exc)}
        scenario_state = (state.setdefault('cm-mlperf-inference-results', {})
                          .setdefault(run.sut_name, {}).setdefault(run.model, {}).setdefault(run.scenario, {}))
        scenario_state[run.mode] = cm_env.state_value(run, results)
        scenario_state[run.mode + '_valid'] = results.valid
        # The same results under MLCFlow's name (mlperf-automations reads mlc-mlperf-inference-results).
        (state.setdefault('mlc-mlperf-inference-results', {}).setdefault(run.sut_name, {})
         .setdefault(run.model, {}))[run.scenario] = dict(scenario_state)
        if env.get('CM_MLPERF_RESULT_REUSED') == 'yes':
            print(report.format_table(results))
    try:
        env.update(cm_env.path_env(cfg))
    except config.ConfigError as exc:
        return {'return': 1, 'error': str(exc)}
    if cfg.submission_dir:
        from dummy_harness.submission.make import read_summary
        summary = read_summary(os.path.dirname(cfg.modes()[0].run_dir))
        if summary is None:
            return {'return': 1, 'error': f"the harness wrote no submission summary for {cfg.submission_dir} "
                                          "(see console.out)"}
        state['cm-mlperf-inference-submission'] = summary
        env['CM_MLPERF_SUBMISSION_CHECKER_SUMMARY'] = summary['checker']['summary'] or summary['checker']['reason']
    return {'return': 0}
