"""CM adapter of the dummy harness: env -> one RunConfig -> one shell-safe command; logs -> env and state.

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
    from dummy_harness import cm_env, config, report, rundir
    return (cm_env, config, report, rundir), None


def _config(env):
    mods, error = _harness()
    if error:
        return None, None, error
    cm_env, config = mods[0], mods[1]
    try:
        return mods, cm_env.config_from_env(env), None
    except config.ConfigError as exc:
        return None, None, str(exc)


def preprocess(i):
    if i['os_info']['platform'] == 'windows':
        return {'return': 1, 'error': 'the dummy harness runs on Linux and macOS only'}
    env, state = i['env'], i['state']
    mods, cfg, error = _config(env)
    if error:
        return {'return': 1, 'error': error}
    cm_env, config, report, rundir = mods

    if cfg.device == 'gpu':
        reason = cm_env.cuda_check(sys.executable)
        if reason:
            return {'return': 1, 'error': reason}

    run_input = i.get('run_script_input', {})
    run_state = run_input.get('run_state', {}) or {}
    variations = run_input.get('variation_tags_string', '')
    state['mlperf-inference-implementation'] = {
        'script_id': f"{i['meta']['alias']},{i['meta']['uid']}:{variations}",
        'script_tags': ','.join(i['meta'].get('tags', [])),
        'script_path': HERE,
        'version_info': run_state.get('version_info', []),
    }
    try:
        command = cm_env.render_command(cfg, sys.executable)
    except config.ConfigError as exc:
        return {'return': 1, 'error': str(exc)}

    stored = None if cfg.rerun else rundir.stored_result(cfg)
    if stored:
        print(f"A VALID result of this configuration is already in {cfg.run_dir}: not repeated "
              "(pass --rerun to run it again; the old logs are kept aside).")
        env['CM_MLPERF_SKIP_RUN'] = 'yes'
        env['CM_MLPERF_RESULT_REUSED'] = 'yes'
    else:
        try:
            moved = rundir.prepare(cfg)
        except rundir.RunDirError as exc:
            return {'return': 1, 'error': str(exc)}
        if moved:
            print(f"Previous contents of the run folder kept in {moved}")

    env['CM_RUN_DIR'] = cfg.run_dir
    env['CM_LOGS_DIR'] = cfg.run_dir
    env['CM_RUN_CMD'] = command
    env['CM_MLPERF_RUN_DIR'] = cfg.run_dir
    env['CM_MLPERF_SUT_NAME'] = cfg.sut_name
    print(f"Run folder: {cfg.run_dir}")
    print(f"Command: {command}")
    return {'return': 0}


def postprocess(i):
    env, state = i['env'], i['state']
    mods, cfg, error = _config(env)
    if error:
        return {'return': 1, 'error': error}
    cm_env, _config_mod, report, _rundir = mods

    results = report.read_results(cfg.run_dir)
    if env.get('CM_MLPERF_SKIP_RUN') == 'yes' and env.get('CM_MLPERF_RESULT_REUSED') != 'yes':
        return {'return': 0}   # prepared only (--env.CM_MLPERF_SKIP_RUN=yes)
    if results is None:
        return {'return': 1, 'error': f"the harness left no results.json in {cfg.run_dir} (see console.out there)"}
    if results.get('status') != 'ok':
        return {'return': 1, 'error': f"run {results.get('status')}: {results.get('failure', 'see results.json')}"}
    # Cross-check against LoadGen's own log: results.json must not claim more than the log says.
    detail = report.parse_detail_log(os.path.join(cfg.run_dir, 'mlperf_log_detail.txt'))
    if detail.errors:
        return {'return': 1, 'error': f"LoadGen logged {len(detail.errors)} error(s): {detail.errors[0]}"}
    if cfg.mode == 'performance' and (detail.get('result_validity') == 'VALID') != bool(results.get('valid')):
        return {'return': 1, 'error': f"results.json disagrees with {cfg.run_dir}/mlperf_log_detail.txt"}

    env.update(cm_env.env_from_results(cfg, results))
    scenario_state = (state.setdefault('cm-mlperf-inference-results', {})
                      .setdefault(cfg.sut_name, {}).setdefault(cfg.model, {}).setdefault(cfg.scenario, {}))
    scenario_state[cfg.mode] = cm_env.state_value(cfg, results)
    scenario_state[cfg.mode + '_valid'] = bool(results.get('valid'))
    if env.get('CM_MLPERF_RESULT_REUSED') == 'yes':
        print(report.format_table(results))
    return {'return': 0}
