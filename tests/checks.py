"""The checks of the Python client tests (tests/acme, tests/hvac, tests/jwt), one way.

A script in a folder of tests/ imports it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
(the test target lists tests/checks.py in its data), counts every check
with `check(cond, what)` or the `case(name)` decorator, and ends with `finish()`: one line
"N/M checks passed, K failure(s)" and exit status 1 if any check failed. Each check prints
"ok <what>" or "FAIL <what>: <why>". Secrets the script registers with `secret()` are
replaced by "<secret>" in everything printed.

Run with Debian's /usr/bin/python3; the ACME helpers need python3-jwcrypto (imported when
called).
"""
import base64
import json
import sys
import traceback

_results = []
_secrets = []


def secret(value):
    """Registers `value` (a token, a key) so that no report prints it; returns it."""
    if value:
        _secrets.append(value)
    return value


def scrub(text):
    for s in _secrets:
        text = text.replace(s, "<secret>")
    return text


def check(cond, what, why=""):
    """Counts one check: passed if `cond` is true. Returns `cond`."""
    _results.append(bool(cond))
    if cond:
        print("ok", scrub(what), flush=True)
    else:
        print("FAIL", scrub(what) + (": " + scrub(why) if why else ""), flush=True)
    return bool(cond)


def case(name):
    """Decorator: runs the function at once as the check `name`; any exception fails it
    (reported, and the script goes on)."""
    def run(fn):
        try:
            fn()
        except Exception as e:  # every check is counted, whatever it raises
            check(False, name, "".join(traceback.format_exception_only(type(e), e)).strip())
        else:
            check(True, name)
        return fn
    return run


def expect(cond, what):
    """Inside a case: raises AssertionError(what) unless `cond`."""
    if not cond:
        raise AssertionError(what)


def raises(exc, fn, *args, **kwargs):
    """Inside a case: calls fn(*args, **kwargs) and raises AssertionError unless it raised
    `exc` (an exception class or a tuple of them). Returns the exception."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    names = exc.__name__ if isinstance(exc, type) else " or ".join(e.__name__ for e in exc)
    raise AssertionError("expected " + names)


def expect_error(exc, fn, fragment=""):
    """Inside a case: calls fn() and raises AssertionError unless it raised `exc` whose text
    holds `fragment`. Returns that text."""
    text = str(raises(exc, fn))
    expect(fragment in text, "%r does not say %r" % (text, fragment))
    return text


def b64url(data):
    """Unpadded base64url (JOSE, RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data):
    """Padded standard base64, as Vault's JSON fields carry bytes."""
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


# ---- ACME (RFC 8555): JWS-signed POSTs over a requests session ----

def acme_key():
    """A fresh P-256 account key."""
    from jwcrypto import jwk
    return jwk.JWK.generate(kty="EC", crv="P-256")


def acme_post(session, url, payload, key, nonce, kid=None, header_url=None, alg="ES256",
              sign_key=None, send_to=None):
    """POSTs `payload` (None: POST-as-GET) to `send_to` (default `url`) as a flattened JWS
    signed by `sign_key` (default `key`), with protected header alg, nonce, url
    (`header_url` or `url`) and kid, or the jwk of `key` when there is no kid."""
    from jwcrypto import jws
    protected = {"alg": alg, "nonce": nonce, "url": header_url or url}
    if kid:
        protected["kid"] = kid
    else:
        protected["jwk"] = json.loads(key.export_public())
    token = jws.JWS(b"" if payload is None else json.dumps(payload).encode())
    token.add_signature(sign_key or key, alg=alg, protected=json.dumps(protected))
    return session.post(send_to or url, data=token.serialize(),
                        headers={"Content-Type": "application/jose+json"})


def acme_problem(response):
    """The ACME problem type of an error response without its URN prefix ("badNonce")."""
    try:
        return response.json().get("type", "").replace("urn:ietf:params:acme:error:", "")
    except ValueError:
        return "<not json: %d>" % response.status_code


def failures():
    return _results.count(False)


def finish():
    """Prints the summary line and exits: 0 if every check passed (and there was one)."""
    failed = failures()
    print("%d/%d checks passed, %d failure(s)" % (len(_results) - failed, len(_results), failed),
          flush=True)
    sys.exit(1 if failed or not _results else 0)
