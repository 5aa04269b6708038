from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.settings import ConfigError, load_settings


def test_embedded_defaults_use_sqlite_and_local_folder_under_home(tmp_path: Path) -> None:
    s = load_settings({"HUKOU_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path}/hukou.sqlite3"
    assert s.storage.backend == "local"
    assert s.archive_root == tmp_path / "archive"


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "hukou.toml"
    cfg.write_text('[database]\nurl = "sqlite:///from-file.db"\n[ocr]\nmax_side_len = 3000\n[pipeline]\nworkers = 3\n')
    s = load_settings({"HUKOU_CONFIG": str(cfg), "HUKOU_PIPELINE_WORKERS": "2", "HUKOU_HOME": str(tmp_path)})
    assert s.database.url == "sqlite:///from-file.db"
    assert s.ocr.max_side_len == 3000
    assert s.pipeline.workers == 2  # environment wins over the file


def test_env_keys_with_underscores_map_to_their_section(tmp_path: Path) -> None:
    s = load_settings({"HUKOU_STORAGE_S3_ENDPOINT": "http://127.0.0.1:9", "HUKOU_STORAGE_RETENTION_DAYS": "30",
                       "HUKOU_HOME": str(tmp_path)})
    assert s.storage.s3_endpoint == "http://127.0.0.1:9"
    assert s.storage.retention_days == 30


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HUKOU_PIPELINE_WORKERS": "many"}, "whole number"),
        ({"HUKOU_CONFIG": "/nonexistent/hukou.toml"}, "not a file"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "hukou.toml"
    cfg.write_text("[storage]\nbakend = 's3'\n")
    with pytest.raises(ConfigError, match="unknown setting 'bakend'"):
        load_settings({"HUKOU_CONFIG": str(cfg)})
