"""``python -m mock_esia``'s data directory: the command line, else the config file's DATA_DIR, else the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_esia.__main__ import build, parse
from mock_esia.keys import GOST_CERTIFICATE_FILE, RSA_CERTIFICATE_FILE


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "mock.toml"
    path.parent.mkdir()
    path.write_text('DATA_DIR = "keys-from-file"\n', encoding="utf-8")
    return path


def test_the_config_files_data_dir_is_where_the_keys_go(config_file: Path) -> None:
    app = build(parse(["--config", str(config_file)]))
    where = config_file.parent / "keys-from-file"
    assert Path(app.config["DATA_DIR"]) == where.resolve()
    assert (where / RSA_CERTIFICATE_FILE).is_file() and (where / GOST_CERTIFICATE_FILE).is_file()


def test_the_command_lines_data_dir_wins_over_the_config_file(config_file: Path, tmp_path: Path) -> None:
    app = build(parse(["--config", str(config_file), "--data-dir", str(tmp_path / "from-cli")]))
    assert Path(app.config["DATA_DIR"]) == (tmp_path / "from-cli").resolve()
    assert (tmp_path / "from-cli" / RSA_CERTIFICATE_FILE).is_file()
    assert not (config_file.parent / "keys-from-file").exists()


def test_without_either_the_keys_go_to_instance_mock_esia_under_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mock.toml").write_text('ISSUER = "http://esia.test/"\n', encoding="utf-8")
    app = build(parse(["--config", "mock.toml"]))
    assert Path(app.config["DATA_DIR"]) == tmp_path / "instance" / "mock_esia"
    assert (tmp_path / "instance" / "mock_esia" / RSA_CERTIFICATE_FILE).is_file()
