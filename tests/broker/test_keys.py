"""id_token keys: every key is published, the first one signs (rotation without downtime)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from broker.errors import ConfigError
from broker.oidc.keys import generate_key_file, load_signing_keys


def test_every_key_is_published_and_the_first_signs(tmp_path: Path) -> None:
    current, upcoming = tmp_path / "current.pem", tmp_path / "next.pem"
    generate_key_file(current)
    generate_key_file(upcoming)
    keys = load_signing_keys([str(current), str(upcoming)])
    published = [key["kid"] for key in keys.jwks()["keys"]]
    assert published == [keys.keys[0].thumbprint(), keys.keys[1].thumbprint()]
    assert keys.active_kid == published[0]
    assert all("d" not in key for key in keys.jwks()["keys"])  # no private part
    rotated = load_signing_keys([str(upcoming), str(current)])
    assert rotated.active_kid == published[1]


def test_a_key_file_is_never_overwritten_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    generate_key_file(path)
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(FileExistsError):
        generate_key_file(path)


@pytest.mark.parametrize("content", [None, b"not a key"])
def test_an_unreadable_key_is_a_config_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "k.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match="OIDC_SIGNING_KEY_FILES"):
        load_signing_keys([str(path)])


def test_the_cli_writes_a_new_key_and_never_overwrites_one(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "oidc.pem"
    first = runner.invoke(args=["keys", "generate", str(path)])
    assert first.exit_code == 0 and "kid" in first.output
    assert load_signing_keys([str(path)]).active_kid in first.output
    again = runner.invoke(args=["keys", "generate", str(path)])
    assert again.exit_code == 1 and "never overwritten" in again.output
