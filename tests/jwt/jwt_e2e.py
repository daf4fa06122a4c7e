"""Workload identity against a real strongroomd: JWTs minted by Debian's python3-jwt (2.6.0)
with RSA, EC and Ed25519 keys, logged in over Vault's HTTP API (hvac 0.11.2 and requests).

Run by tests/jwt_e2e_test.cc with Debian's /usr/bin/python3:
  setup DIR          keys, JWK Sets, a CA and a localhost certificate for the JWKS server
  serve DIR          an HTTPS JWKS server on 127.0.0.1 (DIR/served/jwks.json at /jwks, an
                     OIDC discovery document), printing "jwks listening on port N" and
                     logging each GET of /jwks as a line in DIR/fetches
  mint DIR KIND      prints one JWT (KIND: k8s, k8s-expired) for the gRPC checks
  check DIR          every HTTP check, with VAULT_ADDR and VAULT_CACERT set; prints
                     "ok <check>" or "FAIL <check>: <why>" (never a token) and
                     "N/M checks passed, K failure(s)" (tests/checks.py); exits 1 if any
                     failed.
"""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import b64, b64url, case, expect, finish, scrub, secret  # noqa: E402

K8S_ISS = "https://kubernetes.default.svc.cluster.local"
GH_ISS = "https://token.actions.githubusercontent.com"
SPIFFE_ISS = "https://spire.example.org"


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def jwk_of(key, kid, alg):
    """The public JWK of a private key (PyJWT's algorithm objects write the members)."""
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        d = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(pub))
    else:
        d = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(pub))
    d.update({"kid": kid, "use": "sig", "alg": alg})
    return d


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def setup(d):
    os.makedirs(os.path.join(d, "served"), exist_ok=True)
    k8s = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gh1 = ec.generate_private_key(ec.SECP256R1())
    gh2 = ec.generate_private_key(ec.SECP256R1())
    gh384 = ec.generate_private_key(ec.SECP384R1())
    spiffe = ed25519.Ed25519PrivateKey.generate()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, key in [("k8s", k8s), ("gh1", gh1), ("gh2", gh2), ("gh384", gh384),
                      ("spiffe", spiffe), ("stranger", stranger)]:
        write(os.path.join(d, name + ".key"), pem_private(key), 0o600)
    write(os.path.join(d, "spiffe.pub.pem"), pem_public(spiffe))
    write(os.path.join(d, "k8s-jwks.json"),
          json.dumps({"keys": [jwk_of(k8s, "k8s-rsa-1", "RS256")]}))
    # The JWKS URL serves gh1 (ES256) and gh384 (ES384) at first; rotation adds gh2.
    write(os.path.join(d, "served", "jwks.json"),
          json.dumps({"keys": [jwk_of(gh1, "gh-ec-1", "ES256"),
                               jwk_of(gh384, "gh-ec384", "ES384")]}))
    # A CA and a certificate for localhost / 127.0.0.1, for the JWKS server.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwks test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
           .issuer_name(ca_name).public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(minutes=5))
           .not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.SubjectAlternativeName(
               [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
               critical=False)
           .sign(ca_key, hashes.SHA256()))
    write(os.path.join(d, "jwks-ca.crt"), ca.public_bytes(serialization.Encoding.PEM))
    write(os.path.join(d, "jwks-server.crt"), srv.public_bytes(serialization.Encoding.PEM))
    write(os.path.join(d, "jwks-server.key"), pem_private(srv_key), 0o600)
    write(os.path.join(d, "fetches"), "")


def serve(d):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/jwks":
                with open(os.path.join(d, "fetches"), "a") as f:
                    f.write("GET /jwks\n")
                with open(os.path.join(d, "served", "jwks.json"), "rb") as f:
                    body = f.read()
            elif self.path == "/.well-known/openid-configuration":
                port = self.server.server_address[1]
                body = json.dumps({"issuer": GH_ISS,
                                   "jwks_uri": "https://localhost:%d/jwks" % port}).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "jwks-server.crt"), os.path.join(d, "jwks-server.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("jwks listening on port %d" % server.server_address[1], flush=True)
    server.serve_forever()


def k8s_claims(namespace="payments", sa="api", aud=("https://kubernetes.default.svc", "strongroom"),
               lifetime=600, nbf_offset=0):
    now = int(time.time())
    return {
        "aud": list(aud), "exp": now + lifetime, "iat": now, "nbf": now + nbf_offset,
        "iss": K8S_ISS, "sub": "system:serviceaccount:%s:%s" % (namespace, sa),
        "kubernetes.io": {"namespace": namespace,
                          "pod": {"name": sa + "-7d9f", "uid": "0b8c"},
                          "serviceaccount": {"name": sa, "uid": "5d1e"}},
    }


def gh_claims(ref="refs/heads/main", environment="prod", repository="acme/deploy"):
    now = int(time.time())
    return {
        "aud": "https://github.com/acme", "exp": now + 300, "iat": now, "nbf": now,
        "iss": GH_ISS, "sub": "repo:%s:environment:%s" % (repository, environment),
        "repository": repository, "repository_owner": "acme", "ref": ref,
        "environment": environment, "workflow": "deploy", "run_id": "4242", "run_attempt": "1",
        "event_name": "push",
    }


def sign(d, key_name, claims, alg, kid):
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, load_private(os.path.join(d, key_name + ".key")), algorithm=alg,
                      headers=headers)


def mint(d, kind):
    if kind == "k8s":
        print(sign(d, "k8s", k8s_claims(), "RS256", "k8s-rsa-1"))
    elif kind == "k8s-expired":
        print(sign(d, "k8s", k8s_claims(lifetime=-3600), "RS256", "k8s-rsa-1"))
    else:
        sys.exit("unknown kind " + kind)


def check_all(d):
    import hvac
    import requests

    addr = os.environ["VAULT_ADDR"]
    cacert = os.environ["VAULT_CACERT"]
    def login(path, role, token):
        secret(token)
        r = requests.post(addr + "/v1/auth/%s/login" % path, json={"role": role, "jwt": token},
                          verify=cacert, timeout=30)
        if r.status_code == 200:
            secret(r.json()["auth"]["client_token"])
        return r

    def logged_in(path, role, token, policies):
        r = login(path, role, token)
        expect(r.status_code == 200, "login: HTTP %d %s" % (r.status_code, scrub(r.text)))
        auth = r.json()["auth"]
        expect(sorted(auth["policies"]) == sorted(policies),
               "policies %s, want %s" % (auth["policies"], policies))
        expect(auth["token_policies"] == auth["policies"], "token_policies")
        expect(auth["client_token"].startswith("srt."), "client_token")
        return auth

    def refused(path, role, token, status=403):
        r = login(path, role, token)
        expect(r.status_code == status, "HTTP %d, want %d: %s" % (r.status_code, status, scrub(r.text)))
        if status == 403:
            expect(r.json() == {"errors": ["permission denied"]}, "generic error: " + scrub(r.text))

    def fetches():
        with open(os.path.join(d, "fetches")) as f:
            return f.read().count("GET /jwks")

    def use(token, key, op="encrypt"):
        body = {"plaintext": b64(b"hello")}
        return requests.post("%s/v1/transit/%s/%s" % (addr, op, key), json=body, verify=cacert,
                             headers={"X-Vault-Token": token}, timeout=30)

    k8s_token = sign(d, "k8s", k8s_claims(), "RS256", "k8s-rsa-1")

    @case("kubernetes service account (RS256, JWKS file) gets exactly its role's policies")
    def _():
        auth = logged_in("kubernetes", "payments-api", k8s_token, ["payments"])
        expect(auth["renewable"] is True, "renewable")
        expect(0 < auth["lease_duration"] <= 900, "lease_duration %s" % auth["lease_duration"])
        token = auth["client_token"]
        expect(use(token, "payments").status_code == 200, "encrypt with payments")
        expect(use(token, "deploy").status_code == 403, "encrypt with deploy must be refused")
        r = requests.get(addr + "/v1/auth/token/lookup-self", headers={"X-Vault-Token": token},
                         verify=cacert, timeout=30)
        expect(r.status_code == 200, "lookup-self %d" % r.status_code)
        expect(r.json()["data"]["policies"] == ["payments"], "lookup-self policies")

    @case("the same JWT over /v1/auth/jwt/login")
    def _():
        logged_in("jwt", "payments-api", k8s_token, ["payments"])

    fetched_at = []

    @case("GitHub Actions token (ES256, JWKS over HTTPS) gets exactly its role's policies")
    def _():
        before = fetches()
        fetched_at.append(time.time())
        auth = logged_in("jwt", "deploy", sign(d, "gh1", gh_claims(), "ES256", "gh-ec-1"),
                         ["deploy"])
        expect(use(auth["client_token"], "deploy").status_code == 200, "encrypt with deploy")
        expect(use(auth["client_token"], "payments").status_code == 403, "payments refused")
        expect(fetches() == before + 1, "JWKS fetched once (%d -> %d)" % (before, fetches()))

    @case("ES384 key from the same JWKS")
    def _():
        logged_in("jwt", "deploy", sign(d, "gh384", gh_claims(), "ES384", "gh-ec384"), ["deploy"])

    @case("the JWKS is cached")
    def _():
        before = fetches()
        for _ in range(3):
            logged_in("jwt", "deploy", sign(d, "gh1", gh_claims(), "ES256", "gh-ec-1"), ["deploy"])
        expect(fetches() == before, "fetched %d more times" % (fetches() - before))

    @case("SPIFFE JWT-SVID (EdDSA, inline PEM) gets exactly its role's policies")
    def _():
        now = int(time.time())
        claims = {"aud": ["strongroom"], "sub": "spiffe://example.org/ns/payments/sa/batch",
                  "iss": SPIFFE_ISS, "exp": now + 300, "iat": now}
        logged_in("jwt", "spiffe-batch", sign(d, "spiffe", claims, "EdDSA", None), ["payments"])

    @case("hvac auth.jwt.jwt_login, then a transit call with the result")
    def _():
        client = hvac.Client(url=addr, verify=cacert)
        token = sign(d, "gh1", gh_claims(), "ES256", "gh-ec-1")
        secret(token)
        reply = client.auth.jwt.jwt_login(role="deploy", jwt=token)
        secret(reply["auth"]["client_token"])
        expect(reply["auth"]["policies"] == ["deploy"], "policies %s" % reply["auth"]["policies"])
        expect(client.is_authenticated(), "hvac client authenticated")
        out = client.secrets.transit.encrypt_data(
            name="deploy", plaintext=b64(b"deploy secret"))
        expect(out["data"]["ciphertext"].startswith("vault:v1:"), "ciphertext")

    @case("hvac auth.kubernetes.login")
    def _():
        client = hvac.Client(url=addr, verify=cacert)
        reply = client.auth.kubernetes.login("payments-api", k8s_token)
        secret(reply["auth"]["client_token"])
        expect(reply["auth"]["policies"] == ["payments"], "policies")

    @case("a periodic token for a Vault seal node")
    def _():
        auth = logged_in("kubernetes", "vault-seal",
                         sign(d, "k8s", k8s_claims(namespace="vault", sa="vault"), "RS256",
                              "k8s-rsa-1"), ["seal"])
        r = requests.get(addr + "/v1/auth/token/lookup-self",
                         headers={"X-Vault-Token": auth["client_token"]}, verify=cacert, timeout=30)
        expect(r.json()["data"].get("period") == 3600, "period: " + scrub(r.text))
        expect(use(auth["client_token"], "seal").status_code == 200, "encrypt with seal")

    # Refusals: each is the same 403 for the caller.
    def unsigned(claims, header):
        return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())

    @case("refused: alg none")
    def _():
        refused("kubernetes", "payments-api",
                unsigned(k8s_claims(), {"alg": "none", "typ": "JWT", "kid": "k8s-rsa-1"}) + ".")

    @case("refused: HS256 with the public key as the secret")
    def _():
        with open(os.path.join(d, "k8s-jwks.json")) as f:
            jwks = f.read()
        pub = jwt.algorithms.RSAAlgorithm.from_jwk(json.loads(jwks)["keys"][0])
        secret = pub.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        for key_text in (secret, jwks.encode()):
            head = unsigned(k8s_claims(), {"alg": "HS256", "typ": "JWT", "kid": "k8s-rsa-1"})
            mac = hmac.new(key_text, head.encode(), hashlib.sha256).digest()
            refused("kubernetes", "payments-api", head + "." + b64url(mac))

    @case("refused: wrong audience")
    def _():
        refused("kubernetes", "payments-api",
                sign(d, "k8s", k8s_claims(aud=["vault"]), "RS256", "k8s-rsa-1"))

    @case("refused: expired")
    def _():
        refused("kubernetes", "payments-api",
                sign(d, "k8s", k8s_claims(lifetime=-300), "RS256", "k8s-rsa-1"))

    @case("refused: not yet valid")
    def _():
        refused("kubernetes", "payments-api",
                sign(d, "k8s", k8s_claims(nbf_offset=600, lifetime=1200), "RS256", "k8s-rsa-1"))

    @case("refused: unknown kid")
    def _():
        refused("kubernetes", "payments-api",
                sign(d, "stranger", k8s_claims(), "RS256", "k8s-rsa-9"))

    @case("refused: bad signature (another key under the right kid)")
    def _():
        refused("kubernetes", "payments-api",
                sign(d, "stranger", k8s_claims(), "RS256", "k8s-rsa-1"))

    @case("refused: claim mismatch (namespace, service account, GitHub ref and environment)")
    def _():
        refused("kubernetes", "payments-api",
                sign(d, "k8s", k8s_claims(namespace="billing"), "RS256", "k8s-rsa-1"))
        refused("kubernetes", "payments-api",
                sign(d, "k8s", k8s_claims(sa="other"), "RS256", "k8s-rsa-1"))
        refused("jwt", "deploy",
                sign(d, "gh1", gh_claims(ref="refs/heads/feature"), "ES256", "gh-ec-1"))
        refused("jwt", "deploy",
                sign(d, "gh1", gh_claims(environment="staging"), "ES256", "gh-ec-1"))

    @case("refused: wrong issuer for the role")
    def _():
        refused("jwt", "deploy", sign(d, "k8s", k8s_claims(), "RS256", "k8s-rsa-1"))

    @case("refused: algorithm not allowed for the issuer")
    def _():
        refused("kubernetes", "payments-api", sign(d, "k8s", k8s_claims(), "PS256", "k8s-rsa-1"))

    @case("refused: unknown role, malformed JWT")
    def _():
        refused("jwt", "no-such-role", k8s_token)
        refused("jwt", "payments-api", "not.a.jwt")
        refused("jwt", "payments-api", "", status=400)
        refused("jwt", "bad role!", k8s_token, status=400)

    @case("JWKS rotation: a new kid is fetched and accepted")
    def _():
        # The server refetches for an unknown kid at most every 10 s (IssuerKeys::kMinRefetch):
        # the rotation comes after that bound, as a real one would.
        time.sleep(max(0.0, fetched_at[0] + 10.5 - time.time()) if fetched_at else 10.5)
        before = fetches()
        with open(os.path.join(d, "served", "jwks.json")) as f:
            jwks = json.load(f)
        jwks["keys"].append(jwk_of(load_private(os.path.join(d, "gh2.key")), "gh-ec-2", "ES256"))
        write(os.path.join(d, "served", "jwks.json.tmp"), json.dumps(jwks))
        os.rename(os.path.join(d, "served", "jwks.json.tmp"), os.path.join(d, "served", "jwks.json"))
        logged_in("jwt", "deploy", sign(d, "gh2", gh_claims(), "ES256", "gh-ec-2"), ["deploy"])
        expect(fetches() == before + 1, "refetched once (%d -> %d)" % (before, fetches()))
        # Made-up key ids right after cannot make the server refetch (kMinRefetch).
        for i in range(3):
            refused("jwt", "deploy", sign(d, "gh2", gh_claims(), "ES256", "gh-ec-x%d" % i))
        expect(fetches() == before + 1, "no refetch for unknown kids within 10s")



if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "setup":
        setup(sys.argv[2])
    elif cmd == "serve":
        serve(sys.argv[2])
    elif cmd == "mint":
        mint(sys.argv[2], sys.argv[3])
    elif cmd == "check":
        check_all(sys.argv[2])
        finish()
    else:
        sys.exit("unknown command " + cmd)
