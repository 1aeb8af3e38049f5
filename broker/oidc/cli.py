"""``broker keys generate``: a new id_token signing key (the ``keys`` group is put together in ``broker.cli``)."""

from __future__ import annotations

from pathlib import Path

import click

from broker import commandline
from broker.errors import InputError
from broker.oidc import keys


@click.command("generate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@commandline.clean_errors
def keys_generate(file: Path) -> None:
    """Write a new RSA signing key (PEM, owner-only) to FILE; list it in OIDC_SIGNING_KEY_FILES."""
    if file.exists():
        raise InputError("FILE", f"{file} exists; a key is never overwritten")
    keys.generate_key_file(file)
    click.echo(f"{file}: new RSA key, kid {keys.load_signing_keys([str(file)]).active_kid}")
