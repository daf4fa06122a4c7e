"""hvac (Debian's python3-hvac 0.11.2) against a real strongroomd: Vault's token auth methods
and the sys calls Strongroom maps (health, seal status, seal/unseal, mounts).

Run by tests/hvac_token_e2e_test.cc with Debian's /usr/bin/python3 and
VAULT_ADDR (https://127.0.0.1:PORT), VAULT_TOKEN (a root token), VAULT_CACERT (the server's
certificate). Reports through tests/checks.py (never a token): "ok <check>" or
"FAIL <check>: <why>" per check, then "N/M checks passed, K failure(s)"; exits 1 if any failed.
"""
import os
import sys

import hvac
import hvac.exceptions

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import case, expect, finish, raises, secret  # noqa: E402

ADDR = os.environ["VAULT_ADDR"]
CACERT = os.environ["VAULT_CACERT"]
ROOT = os.environ["VAULT_TOKEN"]

secret(ROOT)


def client(token=None):
    return hvac.Client(url=ADDR, token=token, verify=CACERT)


root = client(ROOT)
state = {}


@case("create")
def _():
    r = root.auth.token.create(policies=["hvac-app"], ttl="2h", display_name="hvac-child",
                               renewable=True, explicit_max_ttl="4h")
    auth = r["auth"]
    secret(auth["client_token"])
    expect(auth["client_token"].startswith("srt."), "client_token")
    expect(len(auth["accessor"]) == 32, "accessor")
    expect(auth["policies"] == ["hvac-app"], "policies %r" % auth["policies"])
    expect(auth["token_policies"] == ["hvac-app"], "token_policies")
    expect(7100 <= auth["lease_duration"] <= 7200, "lease_duration %r" % auth["lease_duration"])
    expect(auth["renewable"] is True, "renewable")
    expect(r["data"] is None, "data")
    state["child"] = auth["client_token"]
    state["child_accessor"] = auth["accessor"]


@case("create periodic")
def _():
    r = root.auth.token.create(policies=["hvac-app"], period="1h", display_name="hvac-periodic")
    secret(r["auth"]["client_token"])
    expect(3500 <= r["auth"]["lease_duration"] <= 3600, "lease_duration")
    state["periodic"] = r["auth"]["client_token"]


@case("create not renewable")
def _():
    r = root.auth.token.create(policies=["hvac-app"], ttl="10m", renewable=False)
    secret(r["auth"]["client_token"])
    expect(r["auth"]["renewable"] is False, "renewable")
    raises(hvac.exceptions.InvalidRequest, client(r["auth"]["client_token"]).auth.token.renew_self)


@case("create orphan (no_parent and create-orphan)")
def _():
    r = root.auth.token.create(policies=["hvac-app"], ttl="10m", no_parent=True)
    secret(r["auth"]["client_token"])
    expect(r["auth"]["orphan"] is True, "orphan via no_parent")
    # Looked up later, a root token's orphan is still one (the stored fact, not its creator).
    d = root.auth.token.lookup(r["auth"]["client_token"])["data"]
    expect(d["orphan"] is True, "lookup of a no_parent orphan: orphan %r" % d["orphan"])
    r = root.adapter.post("/v1/auth/token/create-orphan", json={"policies": ["hvac-app"]})
    secret(r["auth"]["client_token"])
    expect(r["auth"]["orphan"] is True, "orphan via create-orphan")
    d = root.auth.token.lookup_accessor(r["auth"]["accessor"])["data"]
    expect(d["orphan"] is True, "lookup of a create-orphan orphan: orphan %r" % d["orphan"])
    d = root.auth.token.lookup(state["child"])["data"]
    expect(d["orphan"] is False, "root's child: orphan %r" % d["orphan"])


@case("create: a child never outlives its parent")
def _():
    child = client(state["child"])
    raises(hvac.exceptions.InvalidRequest, child.auth.token.create, policies=["hvac-app"],
           ttl="3h")


@case("create: unknown policy, root policy, token roles")
def _():
    raises(hvac.exceptions.InvalidRequest, root.auth.token.create, policies=["no-such-policy"])
    raises(hvac.exceptions.Forbidden, root.auth.token.create, policies=["root"])
    raises((hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest),
           root.auth.token.create, policies=["hvac-app"], role_name="some-role")


@case("lookup")
def _():
    d = root.auth.token.lookup(state["child"])["data"]
    expect(d["accessor"] == state["child_accessor"], "accessor")
    expect(d["policies"] == ["hvac-app"], "policies")
    expect(d["display_name"] == "hvac-child", "display_name")
    expect(d["explicit_max_ttl"] == 4 * 3600, "explicit_max_ttl %r" % d["explicit_max_ttl"])
    expect("id" not in d, "the token is not echoed")


@case("lookup-self")
def _():
    d = client(state["child"]).auth.token.lookup_self()["data"]
    expect(d["accessor"] == state["child_accessor"], "accessor")
    expect(d["renewable"] is True, "renewable")
    expect(0 < d["ttl"] <= 7200, "ttl")
    d = client(state["periodic"]).auth.token.lookup_self()["data"]
    expect(d["period"] == 3600, "period")


@case("lookup-accessor")
def _():
    d = root.auth.token.lookup_accessor(state["child_accessor"])["data"]
    expect(d["accessor"] == state["child_accessor"], "accessor")
    expect(d["policies"] == ["hvac-app"], "policies")
    raises(hvac.exceptions.InvalidRequest, root.auth.token.lookup_accessor,
           "0123456789abcdef0123456789abcdef")


@case("renew")
def _():
    a = root.auth.token.renew(state["child"], increment="30m")["auth"]
    expect(1700 <= a["lease_duration"] <= 1800, "lease_duration %r" % a["lease_duration"])
    expect(a["accessor"] == state["child_accessor"], "accessor")
    expect("client_token" not in a, "the token is not echoed")


@case("renew-self")
def _():
    a = client(state["child"]).auth.token.renew_self(increment=600)["auth"]
    expect(500 <= a["lease_duration"] <= 600, "lease_duration %r" % a["lease_duration"])
    a = client(state["periodic"]).auth.token.renew_self()["auth"]
    expect(3500 <= a["lease_duration"] <= 3600, "periodic lease_duration")


@case("renew-accessor")
def _():
    a = root.auth.token.renew_accessor(state["child_accessor"], increment="1h")["auth"]
    expect(3500 <= a["lease_duration"] <= 3600, "lease_duration %r" % a["lease_duration"])


def new_token():
    r = root.auth.token.create(policies=["hvac-app"], ttl="10m")
    secret(r["auth"]["client_token"])
    return r["auth"]["client_token"], r["auth"]["accessor"]


def gone(token):
    raises(hvac.exceptions.Forbidden, client(token).auth.token.lookup_self)


@case("revoke")
def _():
    token, _ = new_token()
    r = root.auth.token.revoke(token)
    expect(r.status_code == 204, "status %r" % r.status_code)
    gone(token)


@case("revoke-self")
def _():
    token, _ = new_token()
    r = client(token).auth.token.revoke_self()
    expect(r.status_code == 204, "status %r" % r.status_code)
    gone(token)


@case("revoke-accessor")
def _():
    token, accessor = new_token()
    r = root.auth.token.revoke_accessor(accessor)
    expect(r.status_code == 204, "status %r" % r.status_code)
    gone(token)
    raises(hvac.exceptions.InvalidRequest, root.auth.token.revoke_accessor, accessor)


@case("revoke cascades to children and theirs; revoke-accessor and revoke-self too")
def _():
    def family():
        parent, accessor = new_token()
        child = client(parent).auth.token.create(policies=["hvac-app"], ttl="5m")["auth"]
        secret(child["client_token"])
        grandchild = client(child["client_token"]).auth.token.create(policies=["hvac-app"],
                                                                      ttl="4m")["auth"]
        secret(grandchild["client_token"])
        expect(child["orphan"] is False, "a token's child is no orphan")
        return parent, accessor, child["client_token"], grandchild["client_token"]

    bystander, _ = new_token()
    parent, _, child, grandchild = family()
    expect(root.auth.token.revoke(parent).status_code == 204, "revoke")
    for t in (parent, child, grandchild):
        gone(t)
    parent, accessor, child, grandchild = family()
    expect(root.auth.token.revoke_accessor(accessor).status_code == 204, "revoke-accessor")
    for t in (parent, child, grandchild):
        gone(t)
    parent, _, child, grandchild = family()
    expect(client(parent).auth.token.revoke_self().status_code == 204, "revoke-self")
    for t in (parent, child, grandchild):
        gone(t)
    client(bystander).auth.token.lookup_self()


@case("revoke-orphan revokes the token and keeps its children")
def _():
    parent, _ = new_token()
    child = client(parent).auth.token.create(policies=["hvac-app"], ttl="5m")["auth"]
    secret(child["client_token"])
    r = root.auth.token.revoke_and_orphan_children(parent)
    expect(r.status_code == 204, "status %r" % r.status_code)
    gone(parent)
    d = client(child["client_token"]).auth.token.lookup_self()["data"]
    expect(d["accessor"] == child["accessor"], "the child lives on")
    expect(d["orphan"] is True, "an orphan now: orphan %r" % d["orphan"])
    raises(hvac.exceptions.Forbidden, client(state["child"]).auth.token.revoke_and_orphan_children,
           child["client_token"])


@case("list accessors")
def _():
    token, accessor = new_token()
    keys = root.auth.token.list_accessors()["data"]["keys"]
    expect(accessor in keys, "a live token's accessor is listed")
    expect(state["child_accessor"] in keys, "the first child's accessor is listed")
    expect(all(len(k) == 32 for k in keys), "accessors only")
    expect(token not in keys, "no token")
    root.auth.token.revoke_accessor(accessor)
    expect(accessor not in root.auth.token.list_accessors()["data"]["keys"], "a revoked one is not")
    raises(hvac.exceptions.Forbidden, client(state["child"]).auth.token.list_accessors)


@case("a token lacking the right is refused")
def _():
    child = client(state["child"])
    raises(hvac.exceptions.Forbidden, child.auth.token.lookup_accessor, state["child_accessor"])
    raises(hvac.exceptions.Forbidden, child.auth.token.create, policies=["hvac-app"],
           period="10m")
    raises(hvac.exceptions.Forbidden, client("srt.not-a-token").auth.token.lookup_self)


@case("sys health")
def _():
    h = client().sys.read_health_status(method="GET")
    expect(h["initialized"] is True and h["sealed"] is False, "health %r" % h)
    r = client().sys.read_health_status(method="GET", sealed_code=204)
    expect(r.status_code == 400, "sealedcode=204 gives %r" % r.status_code)
    r = client().sys.read_health_status(method="GET", active_code=299)
    expect(r.status_code == 299, "activecode=299 gives %r" % r.status_code)


@case("sys seal-status")
def _():
    s = client().sys.read_seal_status()
    expect(s["sealed"] is False and s["initialized"] is True, "seal status %r" % s)
    expect(client().sys.is_sealed() is False, "is_sealed")


@case("sys mounts")
def _():
    m = root.sys.list_mounted_secrets_engines()
    expect(m["data"]["transit/"]["type"] == "transit", "transit")
    expect(m["data"]["pki/"]["type"] == "pki", "pki")
    expect(m["transit/"]["type"] == "transit", "top-level table")
    raises(hvac.exceptions.InvalidRequest, root.sys.enable_secrets_engine, "kv", path="kv")
    raises(hvac.exceptions.InvalidRequest, root.sys.disable_secrets_engine, "transit")


@case("sys seal and unseal")
def _():
    r = root.sys.seal()
    expect(r.status_code == 204, "seal status %r" % r.status_code)
    expect(client().sys.is_sealed() is True, "sealed")
    raises(hvac.exceptions.InvalidRequest, root.sys.submit_unseal_key, key="a2V5LXNoYXJl")
    expect(client().sys.is_sealed() is True, "still sealed after a key share")
    s = root.sys.submit_unseal_key(reset=True)
    expect(s["sealed"] is False, "unsealed %r" % s)
    expect(client().sys.read_health_status(method="GET")["sealed"] is False, "health")


finish()
