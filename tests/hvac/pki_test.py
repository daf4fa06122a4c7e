"""Vault's PKI engine on Strongroom, driven by hvac (Debian's python3-hvac 0.11.2).

Run by tests/pki_http_e2e_test.cc against a real strongroomd with Debian's /usr/bin/python3:
  VAULT_ADDR, VAULT_CACERT  the server's HTTPS address and the CA that signed its certificate
  VAULT_TOKEN               a token holding every PKI operation ("pki/*")
  DENIED_TOKEN              a token holding no PKI operation
  WORKDIR                   a scratch directory for openssl's files
Generates a root and an intermediate, writes a role, issues, signs a CSR made by openssl,
revokes, reads the CRL, and checks every certificate and the CRL with `openssl verify` and
`openssl crl`. Each step builds on the ones before, so the first failure ends the run.
Reports through tests/checks.py: "ok <check>" per step, "FAIL <step>: <why>", then
"N/M checks passed, K failure(s)"; exits 1 on a failure. The LIST verb (list_roles,
list_certificates) needs an HTTP server that delivers it.
"""

import os
import subprocess
import sys

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import checks  # noqa: E402
from checks import expect, expect_error  # noqa: E402

DONE = []


def step(name):
    """The step `name` passed."""
    DONE.append(name)
    checks.check(True, name)


def write(name, text):
    path = os.path.join(os.environ["WORKDIR"], name)
    with open(path, "w") as f:
        f.write(text)
    return path


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), capture_output=True, text=True)


def main():
    addr, cacert = os.environ["VAULT_ADDR"], os.environ["VAULT_CACERT"]
    client = hvac.Client(url=addr, token=os.environ["VAULT_TOKEN"], verify=cacert)
    denied = hvac.Client(url=addr, token=os.environ["DENIED_TOKEN"], verify=cacert)
    pki = client.secrets.pki

    root = pki.generate_root(
        "internal", "hvac Test Root", extra_params={"issuer_name": "root", "key_type": "ec"}
    )["data"]
    root_path = write("root.pem", root["certificate"])
    expect(root["issuer_name"] == "root", "root issuer name: %r" % root["issuer_name"])
    expect(openssl("verify", "-CAfile", root_path, root_path).returncode == 0, "root self-verifies")
    step("generate_root")

    mid = pki.generate_intermediate(
        "internal", "hvac Issuing CA", extra_params={"key_type": "ec"}
    )["data"]
    expect("CERTIFICATE REQUEST" in mid["csr"], "intermediate CSR")
    expect(mid["issuer_name"] == "default", "an unnamed issuer is the default one")
    step("generate_intermediate")
    signed = pki.sign_intermediate(
        mid["csr"], "hvac Issuing CA", extra_params={"issuer_ref": "root", "ttl": "8760h"}
    )["data"]
    mid_path = write("mid.pem", signed["certificate"])
    verified = openssl("verify", "-CAfile", root_path, mid_path)
    expect(verified.returncode == 0, "intermediate verifies: " + verified.stdout + verified.stderr)
    step("sign_intermediate")
    pki.set_signed_intermediate(signed["certificate"])
    expect(pki.read_ca_certificate().strip() == signed["certificate"].strip(),
           "ca/pem is the intermediate")
    step("set_signed_intermediate")
    step("read_ca_certificate")
    ca_chain = pki.read_ca_certificate_chain()
    expect(ca_chain.count("BEGIN CERTIFICATE") == 2 and root["certificate"].strip() in ca_chain,
           "ca_chain holds the intermediate and the root")
    step("read_ca_certificate_chain")

    pki.create_or_update_role(
        "web",
        extra_params={
            "allowed_domains": "example.com",
            "allow_subdomains": True,
            "key_type": "ec",
            "max_ttl": "720h",
        },
    )
    role = pki.read_role("web")["data"]
    expect(role["allowed_domains"] == ["example.com"], "role domains: %r" % role["allowed_domains"])
    expect(role["issuer_ref"] == "default", "role issuer: %r" % role["issuer_ref"])
    step("create_or_update_role")
    step("read_role")
    expect_error(
        hvac.exceptions.InvalidRequest,
        lambda: pki.create_or_update_role("bad", extra_params={"allow_any_name": True}),
        "allow_any_name",
    )
    step("unsupported role field refused")

    chain = [root_path, mid_path]
    issued = pki.generate_certificate(
        "web", "a.example.com", extra_params={"alt_names": "b.example.com", "ttl": "1h"}
    )["data"]
    leaf_path = write("leaf.pem", issued["certificate"])
    expect(issued["private_key_type"] == "ec", "private key type: %r" % issued["private_key_type"])
    expect(issued["issuing_ca"].strip() == signed["certificate"].strip(), "issuing_ca")
    verified = openssl("verify", "-CAfile", root_path, "-untrusted", mid_path, leaf_path)
    expect(verified.returncode == 0, "issued verifies: " + verified.stdout + verified.stderr)
    key_check = openssl("pkey", "-in", write("leaf.key", issued["private_key"]), "-noout")
    expect(key_check.returncode == 0, "private key parses: " + key_check.stderr)
    step("generate_certificate")

    key = os.path.join(os.environ["WORKDIR"], "csr.key")
    csr = os.path.join(os.environ["WORKDIR"], "csr.pem")
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=api.example.com")
    expect(made.returncode == 0, "openssl req: " + made.stderr)
    with open(csr) as f:
        csr_pem = f.read()
    signed_leaf = pki.sign_certificate(
        "web", csr_pem, "api.example.com", extra_params={"alt_names": "api.example.com"}
    )["data"]
    signed_path = write("signed.pem", signed_leaf["certificate"])
    verified = openssl("verify", "-CAfile", root_path, "-untrusted", mid_path, signed_path)
    expect(verified.returncode == 0, "signed verifies: " + verified.stdout + verified.stderr)
    expect("private_key" not in signed_leaf, "no private key for a CSR")
    step("sign_certificate")

    serial = issued["serial_number"]
    read = pki.read_certificate(serial)["data"]
    expect(read["certificate"].strip() == issued["certificate"].strip(), "cert/" + serial)
    step("read_certificate")
    special = pki.read_certificate("ca")["data"]["certificate"]
    expect(special.strip() == signed["certificate"].strip(), "cert/ca is the default issuer's")
    chain_doc = pki.read_certificate("ca_chain")["data"]["certificate"]
    expect(chain_doc.strip() == ca_chain.strip(), "cert/ca_chain is ca_chain")
    step("read_certificate ca and ca_chain")

    bundled = pki.generate_certificate(
        "web", "c.example.com", extra_params={"format": "pem_bundle", "ttl": "1h"}
    )["data"]
    pem = bundled["certificate"]
    expect(pem.startswith(bundled["private_key"].strip()), "pem_bundle: the key first")
    expect(pem.count("BEGIN CERTIFICATE") == 2 and signed["certificate"].strip() in pem,
           "pem_bundle: the certificate, then the issuing CA (an intermediate)")
    bundle_path = write("bundle.pem", pem)
    key_check = openssl("pkey", "-in", bundle_path, "-noout")
    expect(key_check.returncode == 0, "pem_bundle's key parses: " + key_check.stderr)
    verified = openssl("verify", "-CAfile", root_path, "-untrusted", mid_path, bundle_path)
    expect(verified.returncode == 0, "pem_bundle's certificate verifies: " + verified.stdout +
           verified.stderr)
    step("generate_certificate pem_bundle")
    revoked = pki.revoke_certificate(serial)["data"]
    expect(revoked["revocation_time"] > 0, "revocation time")
    step("revoke_certificate")

    crl_path = write("crl.pem", pki.read_crl())
    crl_check = openssl("crl", "-in", crl_path, "-CAfile", mid_path, "-noout")
    expect("verify OK" in crl_check.stdout + crl_check.stderr,
           "CRL signature: " + crl_check.stdout + crl_check.stderr)
    crl_text = openssl("crl", "-in", crl_path, "-noout", "-text").stdout.lower()
    expect(serial.replace(":", "") in crl_text.replace(":", ""), "revoked serial in the CRL")
    bundle = write("chain.pem", root["certificate"] + "\n" + signed["certificate"] + "\n")
    revoked_check = openssl("verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crl_path,
                            leaf_path)
    expect(revoked_check.returncode != 0 and "revoked" in revoked_check.stdout + revoked_check.stderr,
           "openssl verify -crl_check refuses the revoked certificate")
    good_check = openssl("verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crl_path,
                         signed_path)
    expect(good_check.returncode == 0, "the other certificate passes the CRL check")
    step("read_crl")
    crl_doc = pki.read_certificate("crl")["data"]["certificate"]
    crl_doc_check = openssl("crl", "-in", write("crl2.pem", crl_doc), "-CAfile", mid_path, "-noout")
    expect("verify OK" in crl_doc_check.stdout + crl_doc_check.stderr,
           "cert/crl: " + crl_doc_check.stdout + crl_doc_check.stderr)
    step("read_certificate crl")

    expect_error(
        hvac.exceptions.InvalidRequest,
        lambda: pki.generate_root("exported", "x", extra_params={"issuer_name": "x"}),
        "never leave",
    )
    step("exported refused")
    expect_error(
        hvac.exceptions.Forbidden,
        lambda: denied.secrets.pki.generate_certificate("web", "c.example.com"),
        "may not pki.issue pki/roles/web",
    )
    step("denied token refused")

    # The LIST verb.
    roles = pki.list_roles()["data"]["keys"]
    expect(roles == ["web"], "roles: %r" % roles)
    step("list_roles")
    serials = pki.list_certificates()["data"]["keys"]
    expect(serial in serials and signed_leaf["serial_number"] in serials, "certs: %r" % serials)
    step("list_certificates")



if __name__ == "__main__":
    checks.secret(os.environ["VAULT_TOKEN"])
    checks.secret(os.environ["DENIED_TOKEN"])
    try:
        main()
    except Exception as e:  # the step after the last one done failed: report it, then stop
        checks.check(False, "the step after %s" % (DONE[-1] if DONE else "the start"),
                     "%s: %s" % (type(e).__name__, e))
    checks.finish()
