"""Run the mock ESIA on loopback: ``python -m mock_esia [--port 8800] [--config FILE]``.

Keys and certificates are generated on first start into the data directory (``--data-dir``,
else the config file's ``DATA_DIR``, else ``instance/mock_esia`` under the current directory)
and reused afterwards, so a client can keep trusting ``esia-rsa.cer`` / ``esia-gost.cer``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask

from mock_esia import create_app
from mock_esia.config import DEFAULT_DATA_DIR, DEFAULTS, data_dir_of
from mock_esia.errors import ConfigError
from mock_esia.keys import GOST_CERTIFICATE_FILE, JWKS_FILE, RSA_CERTIFICATE_FILE

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


_QUERY = re.compile(r"\?\S*")
_OID = re.compile(r"/rs/prns/\d+")


class _AccessLogFilter(logging.Filter):
    """Strip query strings and oids from the server's access log: they carry states and person ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_OID.sub("/rs/prns/{oid}", _QUERY.sub("", arg)) if isinstance(arg, str) else arg for arg in record.args)
        return True


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mock_esia", description="Run the mock ESIA.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8800, help="port to listen on (default 8800)")
    parser.add_argument(
        "--data-dir", help=f"where keys and certificates live (default: the config file's DATA_DIR, else {DEFAULT_DATA_DIR})"
    )
    parser.add_argument("--config", help="TOML or JSON file with CLIENTS and other settings")
    parser.add_argument("--issuer", help=f"iss of issued tokens (default {DEFAULTS['ISSUER']})")
    parser.add_argument("--public-url", help="base URL the person API writes into its links")
    parser.add_argument("--consent", choices=("implicit", "page"), help="show a consent page after login")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (the mock has no real security)")
    args = parser.parse_args(argv)
    if args.host not in _LOOPBACK and not args.allow_remote:
        parser.error(f"--host {args.host} is not loopback; add --allow-remote if you really mean it")
    return args


def build(args: argparse.Namespace) -> Flask:
    """The mock as the command line and the config file set it up (the command line wins)."""
    config: dict[str, Any] = {"DATA_DIR": str(data_dir_of(args.data_dir, args.config))}
    if args.config:
        config["CONFIG_FILE"] = args.config
    for key, value in (("ISSUER", args.issuer), ("PUBLIC_URL", args.public_url), ("CONSENT", args.consent)):
        if value:
            config[key] = value
    return create_app(config)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        app = build(args)
    except ConfigError as exc:
        print(f"mock_esia: {exc}", file=sys.stderr)
        return 2

    data_dir = Path(app.config["DATA_DIR"])
    clients = app.extensions["mock_esia"].clients
    print(f"Mock ESIA on http://{args.host}:{args.port}/  (iss {app.config['ISSUER']})")
    print(f"  token certificates: {data_dir / RSA_CERTIFICATE_FILE}, {data_dir / GOST_CERTIFICATE_FILE}")
    print(f"  JWKS: {data_dir / JWKS_FILE}  (also at /__mock__/jwks.json)")
    if clients:
        print(f"  client systems: {', '.join(sorted(clients))}")
    else:
        print("  no client systems registered: pass --config FILE with CLIENTS (see README)")
    logging.getLogger("werkzeug").addFilter(_AccessLogFilter())
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
