"""python -m nightjar.embedded.lakefs_standin serve: run the stand-in server."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Serve the stand-in until stopped; the command line of ``python -m``."""
    parser = argparse.ArgumentParser(
        prog="python -m nightjar.embedded.lakefs_standin",
        description="Serve Nightjar's lakeFS-compatible stand-in. Credentials come from "
        "LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY (never the command line).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API until interrupted")
    serve.add_argument("--data-dir", required=True, type=Path, help="where state is kept")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow binding to a non-loopback address"
    )
    args = parser.parse_args(argv)

    key, secret = os.environ.get("LAKEFS_ACCESS_KEY_ID"), os.environ.get("LAKEFS_SECRET_ACCESS_KEY")
    if not key or not secret:
        parser.error("set LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY")
    if not args.allow_remote and not ipaddress.ip_address(args.host).is_loopback:
        parser.error(f"refusing to bind to {args.host}: pass --allow-remote to expose it")
    import uvicorn

    from nightjar.embedded.lakefs_standin.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    app = create_app(args.data_dir, key, secret)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
