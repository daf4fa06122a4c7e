"""External account binding (RFC 8555 7.3.4) and the pinned external URL, by raw JWS requests
against strongroomd's ACME directory: run by tests/acme_e2e_test.cc with Debian's
/usr/bin/python3 (python3-jwcrypto, python3-requests).

The server's pki.acme.external_url is EXTERNAL_ORIGIN and the role's directory requires EAB;
requests travel to REAL_ORIGIN (127.0.0.1) while every URL the server gives out, and every
JWS "url", is the external one. KID1/KEY1 and KID2/KEY2 are two EAB keys made for the role;
KID_OTHER/KEY_OTHER one made for another role.

Usage: eab_test.py DIRECTORY_URL TLS_CA_FILE EXTERNAL_ORIGIN KID1 KEY1 KID2 KEY2 KID_OTHER KEY_OTHER
"""
import hashlib
import hmac
import json
import os
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import (acme_key, acme_post, acme_problem, b64url, b64url_decode, check,  # noqa: E402
                    finish, secret)

(DIRECTORY, CA, EXTERNAL, KID1, KEY1, KID2, KEY2, KID_OTHER, KEY_OTHER) = sys.argv[1:10]
for hmac_key in (KEY1, KEY2, KEY_OTHER):
    secret(hmac_key)
REAL = DIRECTORY.split("/v1/")[0]
S = requests.Session()
S.verify = CA


def real(url):
    """Where a URL the server gave out is reached from here."""
    return REAL + url[len(EXTERNAL):] if url.startswith(EXTERNAL) else url


# Whatever Host this request names, the directory's URLs are the external ones.
D = S.get(DIRECTORY, headers={"Host": "attacker.example:4443"}).json()
check(all(D[k].startswith(EXTERNAL + "/v1/") for k in ("newNonce", "newAccount", "newOrder")),
      "directory URLs use external_url, not the Host header (%s)" % D.get("newAccount"))
check(D.get("meta", {}).get("externalAccountRequired") is True,
      "meta.externalAccountRequired is true")


def nonce():
    return S.head(real(D["newNonce"])).headers["Replay-Nonce"]


def post(url, payload, key, kid=None, header_url=None):
    return acme_post(S, url, payload, key, nonce(), kid, header_url, send_to=real(url))


def binding(account_key, kid, hmac_key, url=None, payload_key=None, alg="HS256", extra=None):
    protected = {"alg": alg, "kid": kid, "url": url or D["newAccount"]}
    protected.update(extra or {})
    p = b64url(json.dumps(protected).encode())
    body = b64url((payload_key or account_key).export_public().encode())
    mac = hmac.new(b64url_decode(hmac_key), (p + "." + body).encode(), hashlib.sha256).digest()
    return {"protected": p, "payload": body, "signature": b64url(mac)}


key = acme_key()
r = post(D["newAccount"], {"termsOfServiceAgreed": True}, key)
check(r.status_code == 400 and acme_problem(r) == "externalAccountRequired",
      "newAccount without a binding -> externalAccountRequired (%s)" % acme_problem(r))

wrong_mac_key = b64url(b"\x01" * 32)
r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, wrong_mac_key)}, key)
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "wrong MAC -> unauthorized")

other = acme_key()
r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, KEY1, payload_key=other)},
         key)
check(r.status_code == 403 and acme_problem(r) == "unauthorized",
      "another key in the binding's payload -> unauthorized")

r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID_OTHER, KEY_OTHER)}, key)
check(r.status_code == 403 and acme_problem(r) == "unauthorized",
      "a key made for another role -> unauthorized")

r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, KEY1,
                                                             extra={"nonce": nonce()})}, key)
check(r.status_code == 400 and acme_problem(r) == "malformed", "a binding with a nonce -> malformed")

r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, KEY1,
                                                             url=D["newOrder"])}, key)
check(r.status_code == 403 and acme_problem(r) == "unauthorized",
      "a binding for another URL -> unauthorized")

r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, KEY1, alg="HS512")}, key)
check(r.status_code == 400 and acme_problem(r) == "malformed", "a binding with HS512 -> malformed")

# The JWS "url" must be the external one: the URL as this client reached it is refused.
r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, KEY1)}, key,
         header_url=real(D["newAccount"]))
check(r.status_code == 403 and acme_problem(r) == "unauthorized",
      "a JWS url with the Host-derived origin -> unauthorized")

r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(key, KID1, KEY1)}, key)
check(r.status_code == 201 and r.headers.get("Location", "").startswith(EXTERNAL),
      "a valid binding -> 201, account at the external URL (%d %s)" % (r.status_code, r.text))
kid = r.headers.get("Location", "")

second = acme_key()
r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(second, KID1, KEY1)}, second)
check(r.status_code == 403 and acme_problem(r) == "unauthorized",
      "the same EAB key for a second account -> unauthorized (single use)")

r = post(D["newAccount"], {"termsOfServiceAgreed": True,
                           "externalAccountBinding": binding(second, KID2, KEY2)}, second)
check(r.status_code == 201, "the second EAB key binds the second account")

# The bound account works as any other: an order at the external URLs.
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "eab.example.com"}]}, key, kid)
check(r.status_code == 201 and r.json()["finalize"].startswith(EXTERNAL),
      "the bound account orders, with external URLs")

finish()
