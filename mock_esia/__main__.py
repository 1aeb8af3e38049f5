"""Run the mock ESIA on loopback: ``python -m mock_esia [--port 8800] [--config FILE]``.

Keys and certificates are generated on first start into the data directory
(``instance/mock_esia`` under the current directory unless ``--data-dir`` says otherwise) and
reused afterwards, so a client can keep trusting ``esia-rsa.cer`` / ``esia-gost.cer``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mock_esia import create_app
from mock_esia.config import DEFAULTS
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_esia", description="Run the mock ESIA.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8800, help="port to listen on (default 8800)")
    parser.add_argument("--data-dir", default="instance/mock_esia", help="where keys and certificates live")
    parser.add_argument("--config", help="TOML or JSON file with CLIENTS and other settings")
    parser.add_argument("--issuer", help=f"iss of issued tokens (default {DEFAULTS['ISSUER']})")
    parser.add_argument("--public-url", help="base URL the person API writes into its links")
    parser.add_argument("--consent", choices=("implicit", "page"), help="show a consent page after login")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (the mock has no real security)")
    args = parser.parse_args(argv)
    if args.host not in _LOOPBACK and not args.allow_remote:
        parser.error(f"--host {args.host} is not loopback; add --allow-remote if you really mean it")

    config: dict[str, Any] = {"DATA_DIR": str(Path(args.data_dir).resolve())}
    if args.config:
        config["CONFIG_FILE"] = args.config
    for key, value in (("ISSUER", args.issuer), ("PUBLIC_URL", args.public_url), ("CONSENT", args.consent)):
        if value:
            config[key] = value
    try:
        app = create_app(config)
    except ConfigError as exc:
        print(f"mock_esia: {exc}", file=sys.stderr)
        return 2

    data_dir = Path(config["DATA_DIR"])
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
