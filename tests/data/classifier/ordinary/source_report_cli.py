#!/usr/bin/env python3
"""Command-line client for the reporting service.

Authenticates with a token from the environment (or asks for a password interactively),
requests a report, polls until it is rendered, and downloads it.
"""

import argparse
import getpass
import hashlib
import json
import logging
import os
import sys
import time
import uuid
from urllib.parse import urlencode

import requests

API_BASE = os.environ.get("REPORTING_API", "https://reports.internal.example/api/v2")
TOKEN_ENV = "REPORTING_TOKEN"
DEFAULT_TIMEOUT = 30
POLL_INTERVAL_SECONDS = 2.5
CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "reporting_session"
TEMPLATE_ID = "3f2b8c1e-7a4d-4c2b-9e61-2d5f0a8b7c34"
# SHA-256 of the empty string, used to detect empty downloads.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

log = logging.getLogger("report-cli")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--user", default=getpass.getuser())
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input instead of prompting")
    parser.add_argument("--template", default=TEMPLATE_ID)
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--out", default="report.pdf")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def get_token(args, session):
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.user}: ")
    response = session.post(f"{API_BASE}/auth/login",
                            json={"user": args.user, "password": password},
                            timeout=DEFAULT_TIMEOUT)
    response.raise_for_status()
    body = response.json()
    # The server answers {"access_token": ..., "expires_in": 3600, "token_type": "Bearer"}.
    return body["access_token"]


def request_report(session, token, template, month):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    payload = {"template": template, "period": month, "format": "pdf"}
    response = session.post(f"{API_BASE}/reports", headers=headers, json=payload,
                            timeout=DEFAULT_TIMEOUT)
    response.raise_for_status()
    return response.json()["id"]


def wait_for(session, token, report_id):
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        query = urlencode({"fields": "status,download_url,sha256"})
        response = session.get(f"{API_BASE}/reports/{report_id}?{query}", headers=headers,
                               timeout=DEFAULT_TIMEOUT)
        response.raise_for_status()
        report = response.json()
        if report["status"] == "done":
            return report
        if report["status"] == "failed":
            raise RuntimeError(f"report {report_id} failed: {report.get('error')}")
        time.sleep(POLL_INTERVAL_SECONDS)


def download(session, token, report, path):
    headers = {"Authorization": f"Bearer {token}"}
    response = session.get(report["download_url"], headers=headers, timeout=DEFAULT_TIMEOUT)
    response.raise_for_status()
    digest = hashlib.sha256(response.content).hexdigest()
    if digest == EMPTY_SHA256:
        raise RuntimeError("the server returned an empty file")
    if digest != report["sha256"]:
        raise RuntimeError(f"checksum mismatch: got {digest}, expected {report['sha256']}")
    with open(path, "wb") as out:
        out.write(response.content)
    return digest


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with requests.Session() as session:
        token = get_token(args, session)
        report_id = request_report(session, token, args.template, args.month)
        log.info("requested report %s", report_id)
        report = wait_for(session, token, report_id)
        digest = download(session, token, report, args.out)
        log.info("saved %s (sha256 %s)", args.out, digest[:12])
        print(json.dumps({"report": report_id, "file": args.out, "sha256": digest}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
