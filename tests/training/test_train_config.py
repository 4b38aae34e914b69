"""wavelearn.training.config: every TrainConfig field checked, config files read with one-line
errors that name the file and the field, and the merge of defaults, file and overrides."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from wavelearn.models import ConfigError
from wavelearn.training import config as wconfig
from wavelearn.training import tasks


def test_resolve_configs_precedence(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"task": "ecg5000", "model": {"hidden_dim": 16, "levels": 2},
                                "training": {"lr": 0.01, "epochs": 2}}))
    config, model = wconfig.resolve_configs(None, path, {"lr": 0.02, "seed": None}, {"levels": 1})
    assert config.task == "ecg5000" and config.lr == 0.02 and config.epochs == 2
    assert config.batch_size == tasks.TASK_DEFAULTS["ecg5000"]["training"]["batch_size"]
    assert model["hidden_dim"] == 16 and model["levels"] == 1
    config, _ = wconfig.resolve_configs("forda", path)  # the argument beats the file's task
    assert config.task == "forda"


def test_yaml_config_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("# a run\ntask: digits\nmodel:\n  hidden_dim: 16   # small\n"
                    "  wavelet: 'haar'\ntraining:\n  lr: 3e-4\n  max_seq_len: null\n"
                    "  compute_baselines: false\n  batch_size: '8'\n")
    assert wconfig.read_config_file(path) == {  # 3e-4 is a string in YAML 1.1: made a number
        "task": "digits", "model": {"hidden_dim": 16, "wavelet": "haar"},
        "training": {"lr": 3e-4, "max_seq_len": None, "compute_baselines": False,
                     "batch_size": 8}}
    (tmp_path / "bad.json").write_text(json.dumps({"training": {"learning_rate": 1}}))
    with pytest.raises(ValueError, match="bad.json: training.learning_rate: unknown"):
        wconfig.resolve_configs(None, tmp_path / "bad.json")
    (tmp_path / "bad.toml").write_text("")
    with pytest.raises(ValueError, match=".json, .yaml or .yml"):
        wconfig.read_config_file(tmp_path / "bad.toml")
    digits = tasks.prepare_task("digits", limit_train=4, limit_test=2)
    with pytest.raises(ValueError, match="set by the task"):
        tasks.get_task("digits").model_config(digits, {"num_classes": 3}, seed=0)


# every field: a bad value (range or type) -> the phrase of the message
BAD_FIELDS = [
    ("epochs", 0, "an int >= 1 or null"), ("steps", 2.5, "an int >= 1 or null"),
    ("batch_size", 0, "an int >= 1"), ("batch_size", True, "an int >= 1"),
    ("lr", 0, "a number > 0"), ("lr", "abc", "a number > 0"), ("lr", [1, 2], "a number > 0"),
    ("lr", float("nan"), "a number > 0"), ("lr", float("inf"), "a number > 0"),
    ("weight_decay", -100, "a number >= 0"), ("warmup_fraction", 1.0, "in [0, 1)"),
    ("min_lr_ratio", -0.1, "in [0, 1]"), ("grad_clip", -1, "a number > 0 or null"),
    ("grad_clip", 0, "a number > 0 or null"), ("seed", -1, "an int >= 0"),
    ("max_seq_len", 0, "an int >= 1 or null"), ("patch_size", 0, "an int >= 1"),
    ("image_layout", "columns", "one of 'pixels', 'rows'"), ("vocab_size", 2, "an int >= 3"),
    ("limit_train", 0, "an int >= 1 or null"), ("limit_test", -1, "an int >= 1 or null"),
    ("steps_per_epoch", 0, "an int >= 1 or null"), ("eval_limit", 0, "an int >= 1 or null"),
    ("eval_batch_size", 0, "an int >= 1"), ("compute_baselines", "yes", "true or false"),
    ("length_multiple", 0, "an int >= 1"), ("bucket_batches", -1, "an int >= 0"),
    ("task", "nope", "unknown task 'nope'"),
]


def test_every_training_field_is_checked() -> None:
    fields = {f.name for f in dataclasses.fields(wconfig.TrainConfig)}
    assert {name for name, _, _ in BAD_FIELDS} == fields == set(wconfig.FIELD_CHECKS)
    for name, value, allowed in BAD_FIELDS:
        with pytest.raises(ConfigError) as info:
            wconfig.TrainConfig(**{name: value})
        message = str(info.value)
        assert message.startswith(f"training.{name}: ") and allowed in message, message
        assert "\n" not in message
    wconfig.TrainConfig(grad_clip=None, lr=1, weight_decay=0, steps=3)  # allowed


def test_every_config_file_error_is_one_line_naming_the_file_and_field(tmp_path: Path) -> None:
    cases = {
        "unclosed.yaml": ("training:\n  lr: [1, 2\n", "invalid YAML"),
        "tabs.yaml": ("training:\n\tlr: 0.1\n", "tabs"),
        "abc.yaml": ("training:\n  lr: abc\n", "training.lr: must be a number > 0, got 'abc'"),
        "list.yaml": ("training:\n  lr: [1, 2]\n", "training.lr: must be a number > 0"),
        "clip.yaml": ("training:\n  grad_clip: -1\n", "training.grad_clip: must be"),
        "model.yaml": ("model:\n  hidden_dim: -3\n", "model.hidden_dim: must be an int >= 1"),
        "keys.yaml": ("model:\n  colour: red\n", "model.colour: unknown model option"),
        "section.yaml": ("training: 3\n", "training: must be a mapping"),
        "list.json": ("[1, 2]", "must hold a mapping"),
        "bad.json": ('{"training": {"lr": 0.1,}}', "invalid JSON"),
        "task.yaml": ("task: nope\n", "task: unknown task 'nope'"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    cases["binary.yaml"] = ("", "not a text file")
    for name, (_, phrase) in cases.items():
        with pytest.raises(ConfigError) as info:
            wconfig.resolve_configs(None, tmp_path / name)
        message = str(info.value)
        assert message.startswith(f"{tmp_path / name}: ") and phrase in message, message
        assert "\n" not in message
    with pytest.raises(ConfigError, match="missing.yaml: cannot read it"):
        wconfig.read_config_file(tmp_path / "missing.yaml")


def test_overrides_are_named_by_the_caller() -> None:
    def option(section: str, field: str) -> str:
        return "--" + field.replace("_", "-")

    with pytest.raises(ConfigError, match=r"^--batch-size: must be an int >= 1, got 0$"):
        wconfig.resolve_configs("forda", None, {"batch_size": 0}, None, option)
    with pytest.raises(ConfigError, match=r"^--levels: must be an int >= 1"):
        wconfig.resolve_configs("forda", None, None, {"levels": 0}, option)
    with pytest.raises(ConfigError, match=r"^training.lr: must be a number > 0"):
        wconfig.resolve_configs("forda", None, {"lr": -1.0})
