"""Raw JWS requests against strongroomd's ACME directory (RFC 8555), checking each refusal's
problem type and the protocol around it: run by tests/acme_raw_jws_e2e_test.cc with Debian's
/usr/bin/python3 (python3-jwcrypto, python3-cryptography, python3-requests).

Usage: raw_jws_test.py DIRECTORY_URL TLS_CA_FILE HTTP01_PORT
"""
import http.server
import json
import sys
import os
import threading
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk, jws

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import acme_key, acme_post, acme_problem, b64url, check, finish  # noqa: E402

DIRECTORY, CA, HTTP01_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
S = requests.Session()
S.verify = CA


D = S.get(DIRECTORY).json()


def nonce():
    r = S.head(D["newNonce"])
    return r.headers["Replay-Nonce"]


def post(url, payload, key, kid=None, nonce_value=None, header_url=None, alg="ES256",
         sign_key=None):
    return acme_post(S, url, payload, key, nonce_value or nonce(), kid, header_url, alg, sign_key)


# Key authorizations the http-01 responder serves, token -> key authorization.
CHALLENGES = {}


class Responder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        token = self.path.rsplit("/", 1)[-1]
        if token in CHALLENGES:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(CHALLENGES[token].encode())
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", HTTP01_PORT), Responder)
threading.Thread(target=server.serve_forever, daemon=True).start()

# --- accounts --------------------------------------------------------------------------
key = acme_key()
r = post(D["newAccount"], {"onlyReturnExisting": True}, key)
check(r.status_code == 400 and acme_problem(r) == "accountDoesNotExist",
      "onlyReturnExisting for an unknown key -> accountDoesNotExist")
r = post(D["newAccount"], {"termsOfServiceAgreed": True}, key)
check(r.status_code == 201 and "Location" in r.headers, "newAccount -> 201 with Location")
check("Replay-Nonce" in r.headers and 'rel="index"' in r.headers.get("Link", ""),
      "responses carry Replay-Nonce and Link rel=index")
kid = r.headers["Location"]
r = post(D["newAccount"], {"termsOfServiceAgreed": True}, key)
check(r.status_code == 200 and r.headers.get("Location") == kid, "same key again -> 200, same account")

# --- nonces ----------------------------------------------------------------------------
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a.example.com"}]}, key, kid,
         nonce_value="bm90LWEtbm9uY2U")
check(r.status_code == 400 and acme_problem(r) == "badNonce", "unknown nonce -> badNonce")
check("Replay-Nonce" in r.headers, "badNonce comes with a fresh nonce")
used = nonce()
r = post(kid, None, key, kid, nonce_value=used)
check(r.status_code == 200, "POST-as-GET of the account")
r = post(kid, None, key, kid, nonce_value=used)
check(r.status_code == 400 and acme_problem(r) == "badNonce", "replayed nonce -> badNonce")

# --- JWS checks ------------------------------------------------------------------------
other = acme_key()
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a.example.com"}]}, key, kid,
         sign_key=other)
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "signed by another key -> unauthorized")
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a.example.com"}]}, key, kid,
         header_url=D["newAccount"])
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "wrong url header -> unauthorized")
hkey = jwk.JWK.generate(kty="oct", size=256)
protected = {"alg": "HS256", "nonce": nonce(), "url": D["newOrder"], "kid": kid}
t = jws.JWS(b"{}")
t.add_signature(hkey, alg="HS256", protected=json.dumps(protected))
r = S.post(D["newOrder"], data=t.serialize(), headers={"Content-Type": "application/jose+json"})
check(acme_problem(r) == "badSignatureAlgorithm", "HS256 -> badSignatureAlgorithm")
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a.example.com"}]}, key,
         kid + "0")
check(acme_problem(r) == "accountDoesNotExist", "unknown kid -> accountDoesNotExist")
r = S.post(D["newOrder"], data=b"{not json", headers={"Content-Type": "application/jose+json"})
check(r.status_code == 400 and acme_problem(r) == "malformed", "not a JWS -> malformed")
r = S.post(D["newOrder"], data=b"{" * 200000, headers={"Content-Type": "application/jose+json"})
check(400 <= r.status_code < 500 and r.status_code != 404, "oversized body refused (%d)" % r.status_code)

# --- orders ----------------------------------------------------------------------------
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "www.evil.org"}]}, key, kid)
check(r.status_code == 400 and acme_problem(r) == "rejectedIdentifier",
      "name outside the role -> rejectedIdentifier")
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a%d.example.com" % i}
                                         for i in range(21)]}, key, kid)
check(acme_problem(r) == "malformed", "too many identifiers -> malformed")
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a.example.com"}]}, key, kid)
check(r.status_code == 201, "newOrder -> 201")
order_url = r.headers["Location"]
order = r.json()
r = post(D["newAccount"], {"termsOfServiceAgreed": True}, other)
other_kid = r.headers["Location"]
r = post(order_url, None, other, other_kid)
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "another account's order -> unauthorized")
r = post(order["finalize"], {"csr": "AAAA"}, key, kid)
check(r.status_code == 403 and acme_problem(r) == "orderNotReady", "finalize before validation -> orderNotReady")

authz = post(order["authorizations"][0], None, key, kid).json()
challenge = [c for c in authz["challenges"] if c["type"] == "http-01"][0]
thumb = key.thumbprint()
CHALLENGES[challenge["token"]] = challenge["token"] + "." + thumb
r = post(challenge["url"], {}, key, kid)
check(r.status_code == 200 and r.json().get("status") == "processing"
      and "Retry-After" in r.headers,
      "challenge response accepted at once, processing (%s)" % r.json().get("status"))
for _ in range(100):  # validation runs off the request path: poll the authorization
    polled = post(order["authorizations"][0], None, key, kid).json()
    if polled["status"] != "pending":
        break
    time.sleep(0.1)
check(polled["status"] == "valid", "authorization valid after polling (%s)" % polled["status"])
r = post(order_url, None, key, kid)
check(r.json()["status"] == "ready", "order ready after http-01 (%s)" % r.json().get("status"))


def csr_for(names, cert_key):
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return b64url(builder.sign(cert_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


cert_key = ec.generate_private_key(ec.SECP256R1())
r = post(order["finalize"], {"csr": csr_for(["a.example.com", "b.example.com"], cert_key)}, key, kid)
check(r.status_code == 400 and acme_problem(r) == "badCSR", "CSR with an extra name -> badCSR")
r = post(order["finalize"], {"csr": "not*base64"}, key, kid)
check(acme_problem(r) == "malformed", "csr not base64url -> malformed")
r = post(order["finalize"], {"csr": csr_for(["a.example.com"], cert_key)}, key, kid)
check(r.status_code == 200 and r.json().get("status") == "valid", "finalize -> valid")
cert_url = r.json().get("certificate")
r = post(cert_url, None, key, kid)
check(r.status_code == 200 and r.headers["Content-Type"] == "application/pem-certificate-chain"
      and r.text.count("BEGIN CERTIFICATE") >= 2, "certificate download with its chain")
pem = r.text.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
r = post(cert_url, None, other, other_kid)
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "another account cannot download it")

# --- revocation ------------------------------------------------------------------------
r = post(D["revokeCert"], {"certificate": b64url(der)}, other, other_kid)
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "another account cannot revoke it")
cert_jwk = jwk.JWK.from_pem(cert_key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
for bad in (7, 6, 8, 11, "1", 1.5):
    r = post(D["revokeCert"], {"certificate": b64url(der), "reason": bad}, cert_jwk)
    check(r.status_code == 400 and acme_problem(r) == "badRevocationReason",
          "reason %r -> badRevocationReason" % (bad,))
r = post(D["revokeCert"], {"certificate": b64url(der), "reason": 1}, cert_jwk)
check(r.status_code == 200, "revoked with the certificate's own key, for keyCompromise")
with open(os.path.join(os.environ["TEST_TMPDIR"], "raw-revoked.pem"), "w") as f:
    f.write(pem)
r = post(D["revokeCert"], {"certificate": b64url(der)}, key, kid)
check(acme_problem(r) == "alreadyRevoked", "second revocation -> alreadyRevoked")

# --- key change and deactivation -------------------------------------------------------
new = acme_key()
inner_protected = {"alg": "ES256", "jwk": json.loads(new.export_public()), "url": D["keyChange"]}
inner = jws.JWS(json.dumps({"account": kid, "oldKey": json.loads(key.export_public())}).encode())
inner.add_signature(new, alg="ES256", protected=json.dumps(inner_protected))
r = post(D["keyChange"], json.loads(inner.serialize()), key, kid)
check(r.status_code == 200, "keyChange -> 200")
r = post(kid, None, key, kid)
check(acme_problem(r) == "unauthorized", "the old key no longer signs for the account")
r = post(kid, None, new, kid)
check(r.status_code == 200, "the new key signs for the account")
r = post(kid, {"status": "deactivated"}, new, kid)
check(r.status_code == 200 and r.json()["status"] == "deactivated", "account deactivated")
r = post(D["newOrder"], {"identifiers": [{"type": "dns", "value": "a.example.com"}]}, new, kid)
check(r.status_code == 403 and acme_problem(r) == "unauthorized", "a deactivated account is refused")

server.shutdown()
finish()
