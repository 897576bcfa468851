"""A webhook receiver to try alerts with: prints every alert POSTed to it, one line each.

    python scripts/webhook_receiver.py --port 9099 [--secret S] [--out FILE]

With ``--secret`` (the cluster's ``REPURPOSE_ALERT_WEBHOOK_SECRET``) it checks each delivery's
``X-Repurpose-Signature`` header (``sha256=`` and the HMAC-SHA256 of the body) and says whether it
holds. It answers 200 to every POST.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO


def signature_note(body: bytes, header: str | None, secret: str | None) -> str:
    if secret is None:
        return ""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return " signature ok" if header is not None and hmac.compare_digest(header, expected) else " SIGNATURE BAD"


def serve(port: int, secret: str | None, out: TextIO) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                event = json.loads(body)
                line = (
                    f"{event.get('status')}: rule {event.get('rule')} on {event.get('model')}, "
                    f"{event.get('metric')} {event.get('value'):.3f} (threshold {event.get('threshold')})"
                )
            except (ValueError, TypeError, AttributeError):
                line = f"not an alert: {body[:200]!r}"
            print(line + signature_note(body, self.headers.get("X-Repurpose-Signature"), secret), file=out, flush=True)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per alert is enough

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the alerts a Repurpose cluster POSTs to a webhook.")
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--secret", default=None, help="the cluster's webhook secret: check each signature")
    parser.add_argument("--out", default=None, help="append the lines to this file instead of stdout")
    args = parser.parse_args()
    if args.out is None:
        serve(args.port, args.secret, sys.stdout)
    else:
        with open(args.out, "a", encoding="utf-8") as out:
            serve(args.port, args.secret, out)


if __name__ == "__main__":
    main()
