from __future__ import annotations

import ast
import inspect
import itertools
from dataclasses import fields
from pathlib import Path

import pytest

from edgerec.errors import ConfigError
from edgerec.serve import Secret, Settings, load_settings
from edgerec.serve import _settings as settings_module

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_file_equals_the_defaults() -> None:
    assert load_settings(toml_path=EXAMPLE, environ={}) == Settings()


def test_every_setting_is_documented_in_code_and_example() -> None:
    text = EXAMPLE.read_text()
    tree = ast.parse(inspect.getsource(settings_module))
    documented = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            body = node.body
            for first, second in itertools.pairwise(body):
                if isinstance(first, ast.AnnAssign) and isinstance(second, ast.Expr):
                    documented.add(first.target.id)  # type: ignore[union-attr]
    for item in fields(Settings):
        assert item.name in documented, f"{item.name} has no docstring"
        assert f"\n{item.name} = " in text, f"{item.name} missing from config.example.toml"


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('port = 9000\nworkers = 3\nredis_url = "redis://file:6379/0"\n')
    env = {"EDGEREC_PORT": "9100", "EDGEREC_ADMIN_TOKEN": "t0ken"}
    settings = load_settings({"port": 9200, "host": None}, config, env)
    assert (settings.port, settings.workers, settings.redis_url) == (9200, 3, "redis://file:6379/0")
    assert settings.admin_token == Secret("t0ken")
    assert "t0ken" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("colour = 'red'\n", {}, "unknown setting"),
        ("port = [\n", {}, "invalid TOML"),
        ("", {"EDGEREC_PORT": "eighty"}, "port: 'eighty' is not a valid int"),
        ("", {"EDGEREC_MAX_K": "0"}, "max_k must be > 0"),
        ("", {"EDGEREC_REDIS_URL": "http://x"}, "redis_url must be"),
        # The client would read database 0, or fail in the worker naming no setting.
        ("", {"EDGEREC_REDIS_URL": "redis://127.0.0.1:6379/abc"}, "database must be a number"),
        ("", {"EDGEREC_REDIS_URL": "redis://127.0.0.1:99999/0"}, "port must be 1..65535"),
        ("", {"EDGEREC_REDIS_URL": "redis:///0"}, "names no host"),
        ("default_k = 500\n", {}, "default_k must not exceed max_k"),
        ("", {"EDGEREC_WORKERS": "10000"}, "workers must be at most"),
    ],
)
def test_bad_settings_fail_clearly(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(None, config, env)


def test_a_redis_url_error_does_not_repeat_its_password() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"EDGEREC_REDIS_URL": "redis://:hunter2@127.0.0.1:99999/0"})
    assert "hunter2" not in str(raised.value)
    accepted = ("redis://:pw@cache:6379/2", "rediss://cache", "unix:///run/redis.sock")
    for url in accepted:
        assert load_settings(environ={"EDGEREC_REDIS_URL": url}).redis_url == url


def test_an_unreadable_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(None, None, {"EDGEREC_CONFIG": str(tmp_path)})  # a directory
    binary = tmp_path / "edge.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"edge\.toml: not UTF-8 text"):
        load_settings(None, binary, {})


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("0", False), ("Yes", True)])
def test_boolean_settings_from_the_environment(text: str, expected: bool) -> None:
    settings = load_settings(environ={"EDGEREC_BATCH_SCHEDULING": text})
    assert settings.batch_scheduling is expected
    # The workers get the settings back through the environment.
    assert load_settings(environ=settings.to_env()).batch_scheduling is expected


def test_a_boolean_setting_refuses_other_words() -> None:
    with pytest.raises(ConfigError, match="batch_scheduling: 'maybe' is not a valid bool"):
        load_settings(environ={"EDGEREC_BATCH_SCHEDULING": "maybe"})
