"""Which implementation the gost package's functions use, and that both give the same answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gost
from gost import curves, engine, signature


@pytest.fixture
def choose(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Set GOST_BACKEND and forget the choice made so far (it is read once per process)."""

    def set_backend(value: str) -> None:
        monkeypatch.setenv("GOST_BACKEND", value)
        gost._engine_in_use.cache_clear()

    yield set_backend
    monkeypatch.delenv("GOST_BACKEND", raising=False)
    gost._engine_in_use.cache_clear()


def test_gost_backend_python_keeps_to_pure_python(choose) -> None:
    choose("python")
    assert gost.backend() == "python"


def test_the_engine_is_used_when_it_is_there(choose, gost_engine: engine.Engine) -> None:
    choose("auto")
    assert gost.backend() == "engine"
    choose("engine")
    assert gost.backend() == "engine"


def test_an_unknown_backend_is_refused_by_name(choose) -> None:
    choose("fast")
    with pytest.raises(gost.BackendError, match="GOST_BACKEND='fast'"):
        gost.backend()


def test_gost_backend_engine_without_the_engine_says_what_to_install(choose, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "load", lambda: None)
    choose("engine")
    with pytest.raises(gost.BackendError, match="libengine-gost-openssl"):
        gost.backend()


@pytest.mark.parametrize("backend", ["python", "auto"])
def test_both_backends_sign_what_the_other_verifies(choose, backend: str) -> None:
    curve = curves.BY_OID["1.2.643.2.2.35.1"]
    d = 987654321987654321
    point = signature.public_key(curve, d)
    choose(backend)
    digest = gost.streebog256(b"scope")
    made = gost.sign(curve, d, digest)

    assert signature.verify(curve, point, digest, made)
    assert gost.verify(curve, point, digest, signature.sign(curve, d, digest))
    assert not gost.verify(curve, point, gost.streebog256(b"scopE"), made)
    assert gost.streebog512(b"scope") == gost._streebog.streebog512(b"scope")


def test_the_engine_never_signs_with_a_key_outside_one_to_q(choose, gost_engine: engine.Engine) -> None:
    choose("engine")
    curve = curves.CURVES[0]
    with pytest.raises(ValueError, match="between 0 and q"):
        gost.sign(curve, curve.q, bytes(32))
