"""The run configuration: defaults, precedence, and one-line errors naming the bad value."""
import pytest

from dummy_harness.cli import make_parser
from dummy_harness.config import ConfigError, parse_options


def test_defaults_are_resnet50_offline_performance_test_style():
    cfg = parse_options({})
    assert (cfg.model, cfg.scenario, cfg.mode, cfg.device, cfg.precision, cfg.run_style) == \
        ("resnet50", "Offline", "performance", "cpu", "float32", "test")
    assert cfg.batch_size == 8 and cfg.size == "small"


def test_singlestream_defaults_to_batch_1_and_flag_wins():
    assert parse_options({"scenario": "SingleStream"}).batch_size == 1
    assert parse_options({"scenario": "SingleStream", "max_batchsize": "4"}).batch_size == 4


@pytest.mark.parametrize("alias,expected", [("singlestream", "SingleStream"), ("server", "Server"),
                                            ("Offline", "Offline")])
def test_scenario_spellings(alias, expected):
    assert parse_options({"scenario": alias}).scenario == expected


def test_scenario_specific_targets_beat_generic_ones():
    cfg = parse_options({"scenario": "Server", "target_qps": "10", "server_target_qps": "20",
                         "offline_target_qps": "30"})
    assert cfg.target_qps == 20
    assert parse_options({"scenario": "Offline", "target_qps": "10"}).target_qps == 10
    cfg = parse_options({"scenario": "MultiStream", "target_latency": "5", "multistream_target_latency": "7"})
    assert cfg.target_latency == 7


@pytest.mark.parametrize("raw,needle", [
    ({"scenario": "Foo"}, "--scenario='Foo'"),
    ({"mode": "perf"}, "--mode='perf'"),
    ({"count": "0"}, "--count='0'"),
    ({"count": "-3"}, "--count='-3'"),
    ({"count": "abc"}, "--count='abc'"),
    ({"target_qps": "0"}, "--target_qps='0'"),
    ({"target_qps": "nan"}, "--target_qps='nan'"),
    ({"max_batchsize": "0"}, "--max_batchsize='0'"),
    ({"target_latency": "-1"}, "--target_latency='-1'"),
    ({"model": "resnet51"}, "--model='resnet51'"),
    ({"model_size": "huge"}, "--model_size='huge'"),
    ({"output_dir": "out\ntouch pwned"}, "--output_dir='out\\ntouch pwned' holds a control character"),
    ({"performance_sample_count": "100000"}, "--performance_sample_count=100000"),
])
def test_bad_values_give_one_line_naming_value_and_choices(raw, needle):
    with pytest.raises(ConfigError) as err:
        parse_options(raw)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_argv_round_trips_through_the_cli_parser(tmp_path):
    cfg = parse_options({"scenario": "Server", "server_target_qps": "12.5", "count": "200", "mode": "accuracy",
                         "output_dir": str(tmp_path), "rerun": "yes", "precision": "fp16"})
    args = make_parser().parse_args(cfg.to_argv())
    again = parse_options({k: v for k, v in vars(args).items() if v is not None})
    assert again == cfg


def test_run_dir_follows_cm_layout(tmp_path):
    cfg = parse_options({"output_dir": str(tmp_path), "scenario": "Server", "hw_name": "box"})
    assert cfg.run_dir == str(tmp_path / "box-dummy_harness-cpu-pytorch-float32/resnet50/server/performance/run_1")
    acc = parse_options({"output_dir": str(tmp_path), "mode": "accuracy", "hw_name": "box"})
    assert acc.run_dir.endswith("/resnet50/offline/accuracy")


def test_uint8_on_gpu_is_refused_with_what_would_run():
    with pytest.raises(ConfigError, match="uint8 runs on the CPU only.*_cpu,_uint8"):
        parse_options({"device": "cuda", "precision": "uint8"})


# ---- what a backend runs: declared in backends.REGISTRY, checked once here --------------------------------------
@pytest.mark.parametrize("raw,needle", [
    ({"backend": "onnxruntime", "model": "gptj-99"},
     "the onnxruntime backend runs the fixed-compute benchmarks only; gptj-99 generates token by token: use _pytorch"),
    ({"backend": "onnxruntime", "model": "llama2-70b-99.9"}, "llama2-70b-99.9 generates token by token"),
    ({"backend": "onnxruntime", "precision": "uint8"}, "the onnxruntime backend does not run uint8; use _fp32"),
])
def test_a_combination_the_backend_does_not_declare_is_one_line(raw, needle):
    with pytest.raises(ConfigError) as err:
        parse_options(raw)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_every_declared_combination_is_accepted():
    from dummy_harness import backends, catalogue
    for name, info in backends.REGISTRY.items():
        for device, precisions in info.precisions.items():
            for precision in precisions:
                for model, spec in catalogue.CATALOGUE.items():
                    if spec.generates_tokens and not info.generative:
                        continue
                    cfg = parse_options({"backend": name, "device": device, "precision": precision, "model": model})
                    assert (cfg.backend, cfg.device, cfg.precision) == (name, device, precision)


def test_the_onnxruntime_backend_runs_the_fixed_compute_benchmarks():
    for model in ("resnet50", "retinanet", "bert-99", "bert-99.9"):
        assert parse_options({"backend": "onnxruntime", "model": model}).backend == "onnxruntime"
