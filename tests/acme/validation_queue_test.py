"""Challenge validation off the request path, bounded: run by tests/acme_e2e_test.cc against
a strongroomd whose pki.acme has validation_workers 1 and validation_queue 1, with Debian's
/usr/bin/python3 (python3-jwcrypto, python3-requests).

The http-01 responder holds its answer for the first challenge until the second challenge
POST has been refused, so the queue is full at that moment whatever the machine's speed.

Usage: validation_queue_test.py DIRECTORY_URL TLS_CA_FILE HTTP01_PORT
"""
import http.server
import os
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import acme_key, acme_post, check, finish  # noqa: E402

DIRECTORY, CA, HTTP01_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
S = requests.Session()
S.verify = CA
CHALLENGES = {}
RELEASE = threading.Event()  # set once the full queue has been seen
HELD = set()                 # tokens whose answer waits for RELEASE


class Responder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        token = self.path.rsplit("/", 1)[-1]
        if token in HELD:
            RELEASE.wait(8)  # within the server's validation timeout
        self.send_response(200 if token in CHALLENGES else 404)
        self.end_headers()
        self.wfile.write(CHALLENGES.get(token, "").encode())

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", HTTP01_PORT), Responder)
threading.Thread(target=server.serve_forever, daemon=True).start()
D = S.get(DIRECTORY).json()


def post(url, payload, key, kid=None):
    return acme_post(S, url, payload, key, S.head(D["newNonce"]).headers["Replay-Nonce"], kid)


key = acme_key()
kid = post(D["newAccount"], {"termsOfServiceAgreed": True}, key).headers["Location"]
challenges = []
for name in ("q1.example.com", "q2.example.com"):
    order = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}, key, kid).json()
    authz_url = order["authorizations"][0]
    authz = post(authz_url, None, key, kid).json()
    c = [c for c in authz["challenges"] if c["type"] == "http-01"][0]
    CHALLENGES[c["token"]] = c["token"] + "." + key.thumbprint()
    challenges.append((authz_url, c))
HELD.add(challenges[0][1]["token"])

started = time.monotonic()
r = post(challenges[0][1]["url"], {}, key, kid)
check(r.status_code == 200 and r.json()["status"] == "processing",
      "first challenge POST answers processing at once (%.1fs)" % (time.monotonic() - started))
r = post(challenges[1][1]["url"], {}, key, kid)
check(r.status_code == 429 and r.json().get("type") == "urn:ietf:params:acme:error:rateLimited"
      and "validation queue is full" in r.json().get("detail", ""),
      "second challenge POST with the queue full -> rateLimited (%d)" % r.status_code)
r = post(challenges[1][0], None, key, kid)
check(r.json()["status"] == "pending" and
      all(c["status"] == "pending" for c in r.json()["challenges"]),
      "the refused challenge stays pending")
RELEASE.set()


def poll(authz_url):
    for _ in range(150):
        status = post(authz_url, None, key, kid).json()["status"]
        if status != "pending":
            return status
        time.sleep(0.1)
    return "pending"


check(poll(challenges[0][0]) == "valid", "first authorization valid after polling")
r = post(challenges[1][1]["url"], {}, key, kid)
check(r.status_code == 200 and r.json()["status"] == "processing",
      "the second challenge is accepted once the queue has room")
check(poll(challenges[1][0]) == "valid", "second authorization valid after polling")

server.shutdown()
finish()
