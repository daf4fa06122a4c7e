#!/usr/bin/python3
"""Every transit call of hvac (Debian's python3-hvac 0.11.2) against a real strongroomd.

Run by //tests:transit_hvac_e2e_test with Debian's /usr/bin/python3 (where python3-hvac is
installed) and the environment VAULT_ADDR, VAULT_TOKEN (a token allowed every transit
operation), VAULT_CACERT (the server's certificate). Signatures are also checked by the
openssl CLI against the public key read_key returns. Prints "ok <check>" or
"FAIL <check>: <why>" per check (tests/checks.py), then "N/M checks passed, K failure(s)";
exits 1 if any failed, or if a method of hvac's transit class was never called (so a new hvac
method cannot be missed).
"""

import hashlib
import os
import subprocess
import sys
import tempfile

import hvac
from hvac import exceptions

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import b64, b64url_decode, case, expect_error, finish, secret, unb64  # noqa: E402

URL = os.environ["VAULT_ADDR"]
TOKEN = os.environ["VAULT_TOKEN"]
CACERT = os.environ["VAULT_CACERT"]

client = hvac.Client(url=URL, token=TOKEN, verify=CACERT)
# strict_http sends LIST as GET ?list=true, as some proxies require.
strict = hvac.Client(url=URL, token=TOKEN, verify=CACERT, strict_http=True)
transit = client.secrets.transit

secret(TOKEN)
called = set()


def call(method, *args, **kwargs):
    called.add(method)
    return getattr(transit, method)(*args, **kwargs)


def payload(envelope, url_safe=False):
    text = envelope.rsplit(":", 1)[1]
    if url_safe:
        return b64url_decode(text)
    return unb64(text)


def openssl_verifies(public_pem, message, signature_der, digest, extra=()):
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("pub.pem", "sig", "msg")}
        for n, data in (("pub.pem", public_pem.encode()), ("sig", signature_der), ("msg", message)):
            with open(paths[n], "wb") as f:
                f.write(data)
        cmd = ["openssl", "dgst", "-" + digest, "-verify", paths["pub.pem"], "-signature",
               paths["sig"]] + list(extra) + [paths["msg"]]
        return subprocess.run(cmd, capture_output=True).returncode == 0


def raw_to_der(raw):
    """r||s (JWS) as a DER ECDSA-Sig-Value."""

    def integer(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b

    n = len(raw) // 2
    body = integer(raw[:n]) + integer(raw[n:])
    return b"\x30" + bytes([len(body)]) + body


AES, EC, RSA, ED, DERIVED = "hvac-aes", "hvac-ec", "hvac-rsa", "hvac-ed", "hvac-derived"
state = {}


@case("create_key: aes256-gcm96, ecdsa-p256, rsa-2048, ed25519, derived+convergent")
def _():
    call("create_key", AES)
    call("create_key", EC, key_type="ecdsa-p256")
    call("create_key", RSA, key_type="rsa-2048")
    call("create_key", ED, key_type="ed25519")
    call("create_key", DERIVED, derived=True, convergent_encryption=True)


@case("create_key: exportable is refused")
def _():
    expect_error(exceptions.InvalidRequest,
                 lambda: call("create_key", "hvac-exportable", exportable=True), "HSM boundary")
    expect_error(exceptions.InvalidPath, lambda: call("read_key", "hvac-exportable"))


@case("read_key: Vault's shape, public keys of asymmetric keys")
def _():
    data = call("read_key", AES)["data"]
    assert data["type"] == "aes256-gcm96" and data["latest_version"] == 1, data
    assert data["supports_encryption"] and not data["exportable"], data
    ec = call("read_key", EC)["data"]
    assert ec["type"] == "ecdsa-p256" and ec["supports_signing"], ec
    assert ec["keys"]["1"]["public_key"].startswith("-----BEGIN PUBLIC KEY-----"), ec
    state["ec_pem"] = ec["keys"]["1"]["public_key"]
    state["rsa_pem"] = call("read_key", RSA)["data"]["keys"]["1"]["public_key"]
    assert call("read_key", DERIVED)["data"]["convergent_encryption"] is True


@case("read_key: a missing key is InvalidPath (404)")
def _():
    expect_error(exceptions.InvalidPath, lambda: call("read_key", "hvac-nothing"))


@case("list_keys: GET ?list=true (strict_http)")
def _():
    keys = strict.secrets.transit.list_keys()["data"]["keys"]
    assert {AES, EC, RSA, ED, DERIVED} <= set(keys), keys


@case("list_keys: the LIST verb")
def _():
    # Its own client (connection): a server that mishandles LIST must not fail the checks
    # after it on a shared keep-alive connection.
    called.add("list_keys")
    lister = hvac.Client(url=URL, token=TOKEN, verify=CACERT)
    keys = lister.secrets.transit.list_keys()["data"]["keys"]
    assert {AES, EC, RSA, ED, DERIVED} <= set(keys), keys


@case("encrypt_data/decrypt_data: round trip, derived key with context")
def _():
    ct = call("encrypt_data", AES, b64(b"4111 1111 1111 1111"))["data"]["ciphertext"]
    assert ct.startswith("vault:v1:"), ct
    assert unb64(call("decrypt_data", AES, ct)["data"]["plaintext"]) == b"4111 1111 1111 1111"
    state["v1_ciphertext"] = ct
    ctx = b64(b"tenant-7")
    one = call("encrypt_data", DERIVED, b64(b"same"), context=ctx)["data"]["ciphertext"]
    two = call("encrypt_data", DERIVED, b64(b"same"), context=ctx)["data"]["ciphertext"]
    assert one == two, "convergent encryption is deterministic"
    assert unb64(call("decrypt_data", DERIVED, one, context=ctx)["data"]["plaintext"]) == b"same"


@case("encrypt_data/decrypt_data: batch_input")
def _():
    items = [{"plaintext": b64(b"a"), "reference": "r1"}, {"plaintext": b64(b"b")}]
    results = call("encrypt_data", AES, "", batch_input=items)["data"]["batch_results"]
    assert results[0]["reference"] == "r1" and len(results) == 2, results
    back = call("decrypt_data", AES, "",
                batch_input=[{"ciphertext": r["ciphertext"]} for r in results])
    assert [unb64(r["plaintext"]) for r in back["data"]["batch_results"]] == [b"a", b"b"]


@case("encrypt_data: a missing key is InvalidRequest, never upserted")
def _():
    expect_error(exceptions.InvalidRequest,
                 lambda: call("encrypt_data", "hvac-nothing", b64(b"x")), "encryption key not found")
    expect_error(exceptions.InvalidPath, lambda: call("read_key", "hvac-nothing"))


@case("rotate_key and rewrap_data")
def _():
    call("rotate_key", AES)
    assert call("read_key", AES)["data"]["latest_version"] == 2
    new = call("rewrap_data", AES, state["v1_ciphertext"])["data"]["ciphertext"]
    assert new.startswith("vault:v2:"), new
    assert unb64(call("decrypt_data", AES, new)["data"]["plaintext"]) == b"4111 1111 1111 1111"


@case("partial_failure_response_code: a final code is used, 204 is refused")
def _():
    body = {"batch_input": [{"plaintext": b64(b"a")}, {"plaintext": "not base64!"}],
            "partial_failure_response_code": 207}
    response = client.adapter.post("/v1/transit/encrypt/" + AES, json=body)
    assert response.status_code == 207, response.status_code
    body["partial_failure_response_code"] = 204
    expect_error(exceptions.InvalidRequest,
                 lambda: client.adapter.post("/v1/transit/encrypt/" + AES, json=body),
                 "partial_failure_response_code")


@case("update_key_configuration: min versions, deletion_allowed; exportable refused")
def _():
    call("update_key_configuration", AES, min_decryption_version=2, deletion_allowed=True)
    call("update_key_configuration", AES, min_encryption_version=2)
    data = call("read_key", AES)["data"]
    assert data["min_decryption_version"] == 2 and data["min_encryption_version"] == 2, data
    assert data["deletion_allowed"] is True, data
    expect_error(exceptions.InvalidRequest,
                 lambda: call("decrypt_data", AES, state["v1_ciphertext"]))
    expect_error(exceptions.InvalidRequest,
                 lambda: call("update_key_configuration", AES, exportable=True), "HSM boundary")


@case("trim_key")
def _():
    call("trim_key", AES, 2)
    data = call("read_key", AES)["data"]
    assert data["min_available_version"] == 2 and "1" not in data["keys"], data
    expect_error(exceptions.InvalidRequest, lambda: call("trim_key", AES, 1))


@case("generate_data_key: plaintext and wrapped, bits")
def _():
    plain = call("generate_data_key", AES, "plaintext")["data"]
    key = unb64(plain["plaintext"])
    assert len(key) == 32, len(key)
    assert unb64(call("decrypt_data", AES, plain["ciphertext"])["data"]["plaintext"]) == key
    wrapped = call("generate_data_key", AES, "wrapped", bits=512)["data"]
    assert "plaintext" not in wrapped, wrapped
    assert len(unb64(call("decrypt_data", AES, wrapped["ciphertext"])["data"]["plaintext"])) == 64
    ctx = b64(b"tenant-9")
    derived = call("generate_data_key", DERIVED, "plaintext", context=ctx, bits=128)["data"]
    assert len(unb64(derived["plaintext"])) == 16


@case("generate_random_bytes: bytes, hex and base64")
def _():
    default = unb64(call("generate_random_bytes")["data"]["random_bytes"])
    assert len(default) == 32, len(default)
    text = call("generate_random_bytes", n_bytes=16, output_format="hex")["data"]["random_bytes"]
    assert len(bytes.fromhex(text)) == 16, text
    assert unb64(call("generate_random_bytes", n_bytes=24)["data"]["random_bytes"]) != default


@case("generate_random_bytes: the HSM's RNG through the path (random/seal/N)")
def _():
    data = client.adapter.post("/v1/transit/random/seal/48", json={})["data"]
    assert len(unb64(data["random_bytes"])) == 48, data


@case("hash_data: sha2-* in hex and base64, as hashlib computes")
def _():
    message = b"The quick brown fox"
    for algorithm, fn in (("sha2-224", hashlib.sha224), ("sha2-256", hashlib.sha256),
                          ("sha2-384", hashlib.sha384), ("sha2-512", hashlib.sha512)):
        text = call("hash_data", b64(message), algorithm=algorithm,
                    output_format="hex")["data"]["sum"]
        assert text == fn(message).hexdigest(), (algorithm, text)
    text = call("hash_data", b64(message), output_format="base64")["data"]["sum"]
    assert unb64(text) == hashlib.sha256(message).digest()


@case("generate_hmac and verify_signed_data(hmac=...)")
def _():
    mac = call("generate_hmac", AES, b64(b"payload"), algorithm="sha2-384")["data"]["hmac"]
    assert mac.startswith("vault:v2:") and len(payload(mac)) == 48, mac
    ok = call("verify_signed_data", AES, b64(b"payload"), hmac=mac, hash_algorithm="sha2-384")
    assert ok["data"]["valid"] is True, ok
    bad = call("verify_signed_data", AES, b64(b"tampered"), hmac=mac, hash_algorithm="sha2-384")
    assert bad["data"]["valid"] is False, bad
    expect_error(exceptions.InvalidRequest,
                 lambda: call("generate_hmac", AES, b64(b"x"), algorithm="sha2-224"), "sha2-256")


@case("sign_data/verify_signed_data: ECDSA asn1, checked by openssl")
def _():
    sig = call("sign_data", EC, b64(b"release-1.2.3"))["data"]["signature"]
    assert openssl_verifies(state["ec_pem"], b"release-1.2.3", payload(sig), "sha256"), sig
    assert call("verify_signed_data", EC, b64(b"release-1.2.3"), signature=sig)["data"]["valid"]
    other = call("verify_signed_data", EC, b64(b"release-6.6.6"), signature=sig)
    assert other["data"]["valid"] is False, other


@case("sign_data/verify_signed_data: ECDSA jws (r||s, base64url), checked by openssl")
def _():
    sig = call("sign_data", EC, b64(b"jwt body"), hash_algorithm="sha2-384",
               marshaling_algorithm="jws")["data"]["signature"]
    raw = payload(sig, url_safe=True)
    assert len(raw) == 64 and "=" not in sig, sig
    assert openssl_verifies(state["ec_pem"], b"jwt body", raw_to_der(raw), "sha384"), sig
    result = call("verify_signed_data", EC, b64(b"jwt body"), signature=sig,
                  hash_algorithm="sha2-384", marshaling_algorithm="jws")
    assert result["data"]["valid"] is True, result


@case("sign_data/verify_signed_data: RSA pkcs1v15 and pss, prehashed, checked by openssl")
def _():
    sig = call("sign_data", RSA, b64(b"contract"), hash_algorithm="sha2-512",
               signature_algorithm="pkcs1v15")["data"]["signature"]
    assert openssl_verifies(state["rsa_pem"], b"contract", payload(sig), "sha512"), sig
    assert call("verify_signed_data", RSA, b64(b"contract"), signature=sig,
                hash_algorithm="sha2-512", signature_algorithm="pkcs1v15")["data"]["valid"]
    digest = hashlib.sha256(b"contract").digest()
    pss = call("sign_data", RSA, b64(digest), prehashed=True,
               signature_algorithm="pss")["data"]["signature"]
    assert openssl_verifies(state["rsa_pem"], b"contract", payload(pss), "sha256",
                            ["-sigopt", "rsa_padding_mode:pss"]), pss
    assert call("verify_signed_data", RSA, b64(b"contract"), signature=pss,
                signature_algorithm="pss")["data"]["valid"]


@case("sign_data: ed25519; a key that cannot sign is refused")
def _():
    sig = call("sign_data", ED, b64(b"hello"))["data"]["signature"]
    assert call("verify_signed_data", ED, b64(b"hello"), signature=sig)["data"]["valid"]
    expect_error(exceptions.InvalidRequest, lambda: call("sign_data", AES, b64(b"x")),
                 "does not support signing")


@case("export_key, backup_key, restore_key: refused, keys never leave the HSM boundary")
def _():
    for fn in (lambda: call("export_key", AES, "encryption-key"),
               lambda: call("export_key", EC, "signing-key", version="latest"),
               lambda: call("backup_key", AES),
               lambda: call("restore_key", "eyJwb2xpY3kiOnt9fQ==", name="hvac-restored")):
        expect_error(exceptions.InvalidRequest, fn, "never leave the HSM boundary")
    expect_error(exceptions.InvalidPath, lambda: call("read_key", "hvac-restored"))


@case("delete_key: refused without deletion_allowed, then deleted")
def _():
    expect_error(exceptions.InvalidRequest, lambda: call("delete_key", EC),
                 "deletion is not allowed")
    call("delete_key", AES)  # deletion_allowed was set above
    expect_error(exceptions.InvalidPath, lambda: call("read_key", AES))


@case("every transit method of hvac was called")
def _():
    methods = {m for m in dir(hvac.Client().secrets.transit)
               if not m.startswith("_") and callable(getattr(transit, m))}
    missing = methods - called
    assert not missing, sorted(missing)


finish()
