#!/usr/bin/env node
// Strongroom's Vault-compatible transit API, exercised by node-vault (an independent Vault
// client from npm) against a running strongroomd.
//
// Environment:
//   VAULT_ADDR      https://127.0.0.1:PORT (the HTTPS listener)
//   VAULT_TOKEN     a token whose policy allows create/read/rotate/encrypt/decrypt/rewrap on
//                   KEY and token lookup-self/renew-self
//   VAULT_CACERT    path of the server's CA certificate (PEM)
//   KEY             name of the transit key to create (must not exist yet)
//   MOUNT           optional, default "transit"
//   KEY_RESIDENCY   optional, "hsm" (default) or "wrapped"
//   VAULT_CLIENT_CERT, VAULT_CLIENT_KEY   optional client certificate and key (PEM paths)
//
// Prints one line per check, "ok <name>" or "FAIL <name>: <why>", and exits 1 if any failed.
'use strict';

const fs = require('fs');
const crypto = require('crypto');

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    console.error(`FAIL setup: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const addr = env('VAULT_ADDR');
const token = env('VAULT_TOKEN');
const caPath = env('VAULT_CACERT');
const key = env('KEY');
const mount = env('MOUNT', 'transit');
const residency = env('KEY_RESIDENCY', 'hsm');

const requestOptions = { ca: fs.readFileSync(caPath) };
if (process.env.VAULT_CLIENT_CERT) requestOptions.cert = fs.readFileSync(process.env.VAULT_CLIENT_CERT);
if (process.env.VAULT_CLIENT_KEY) requestOptions.key = fs.readFileSync(process.env.VAULT_CLIENT_KEY);

const nodeVault = require('node-vault');
const vault = nodeVault({ apiVersion: 'v1', endpoint: addr, token, requestOptions });

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString('utf8');

class CheckError extends Error {}
function expect(cond, what) {
  if (!cond) throw new CheckError(what);
}
function expectEq(actual, expected, what) {
  if (actual !== expected) {
    throw new CheckError(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
  }
}

// The body of a call that must fail with HTTP `status`: Vault's {"errors":[...]}, or for a
// batch with failed items (withErrors false) the usual data.batch_results.
async function expectApiError(promise, status, what, withErrors = true) {
  let result;
  try {
    result = await promise;
  } catch (err) {
    expect(err.response !== undefined, `${what}: not an API error: ${err.message || err}`);
    expectEq(err.response.statusCode, status, `${what} status`);
    const body = err.response.body;
    if (withErrors) {
      expect(body && Array.isArray(body.errors), `${what}: body has no errors array: ${JSON.stringify(body)}`);
    }
    return body;
  }
  throw new CheckError(`${what}: succeeded, want HTTP ${status}: ${JSON.stringify(result)}`);
}

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok ${name}`);
  } catch (err) {
    results.push(false);
    const why = err instanceof CheckError ? err.message : (err && err.stack) || String(err);
    const body = err && err.response ? ` (HTTP ${err.response.statusCode} ${JSON.stringify(err.response.body)})` : '';
    console.log(`FAIL ${name}: ${why}${body}`.replace(/\n/g, ' | '));
  }
}

async function main() {
  const path = (suffix) => `${mount}/${suffix}`;
  const missing = `${key}-missing-${crypto.randomBytes(4).toString('hex')}`;
  let v1Ciphertext;

  await check('health', async () => {
    const h = await vault.health();
    expectEq(h.initialized, true, 'initialized');
    expectEq(h.sealed, false, 'sealed');
    expect(typeof h.version === 'string', 'version is a string');
  });

  await check('create key', async () => {
    const created = await vault.write(path(`keys/${key}`), { type: 'aes256-gcm96', residency });
    // Vault answers 200 with the key (newer) or 204 (older); both are fine for clients.
    if (created && created.data) expectEq(created.data.name, key, 'created name');
    const read = await vault.read(path(`keys/${key}`));
    expectEq(read.data.name, key, 'name');
    expectEq(read.data.type, 'aes256-gcm96', 'type');
    expectEq(read.data.latest_version, 1, 'latest_version');
    expectEq(read.data.exportable, false, 'exportable');
    expectEq(read.data.supports_encryption, true, 'supports_encryption');
    expectEq(read.data.residency, residency, 'residency');
    expect(typeof read.data.keys['1'] === 'number', 'keys["1"] is a creation time');
  });

  await check('encrypt decrypt round trip', async () => {
    const enc = await vault.write(path(`encrypt/${key}`), { plaintext: b64('the seal key share') });
    expect(/^vault:v1:/.test(enc.data.ciphertext), `ciphertext ${enc.data.ciphertext} is vault:v1:...`);
    expectEq(enc.data.key_version, 1, 'key_version');
    v1Ciphertext = enc.data.ciphertext;
    const dec = await vault.write(path(`decrypt/${key}`), { ciphertext: v1Ciphertext });
    expectEq(unb64(dec.data.plaintext), 'the seal key share', 'plaintext');
  });

  if (mount === 'transit') {
    await check('node-vault encryptData/decryptData helpers', async () => {
      const enc = await vault.encryptData({ name: key, plaintext: b64('helper') });
      const dec = await vault.decryptData({ name: key, ciphertext: enc.data.ciphertext });
      expectEq(unb64(dec.data.plaintext), 'helper', 'plaintext');
    });
  }

  let batchCiphertexts = [];
  await check('batch encrypt', async () => {
    const enc = await vault.write(path(`encrypt/${key}`), {
      batch_input: [
        { plaintext: b64('one'), reference: 'a' },
        { plaintext: b64('two'), reference: 'b' },
        { plaintext: b64('three') },
      ],
    });
    const r = enc.data.batch_results;
    expectEq(r.length, 3, 'batch_results length');
    expectEq(r[0].reference, 'a', 'reference 0');
    expectEq(r[1].reference, 'b', 'reference 1');
    r.forEach((item, i) => {
      expect(item.error === undefined, `item ${i} error ${item.error}`);
      expect(/^vault:v1:/.test(item.ciphertext), `item ${i} ciphertext`);
    });
    batchCiphertexts = r.map((item) => item.ciphertext);
  });

  await check('batch decrypt', async () => {
    const dec = await vault.write(path(`decrypt/${key}`), {
      batch_input: batchCiphertexts.map((ciphertext) => ({ ciphertext })),
    });
    const got = dec.data.batch_results.map((item) => unb64(item.plaintext));
    expectEq(JSON.stringify(got), JSON.stringify(['one', 'two', 'three']), 'plaintexts');
  });

  await check('batch partial failure', async () => {
    const body = await expectApiError(
      vault.write(path(`encrypt/${key}`), { batch_input: [{ plaintext: b64('fine') }, { plaintext: 'not base64!' }] }),
      400, 'batch with a bad item', false);
    const r = body.data.batch_results;
    expect(/^vault:v1:/.test(r[0].ciphertext), 'good item still encrypted');
    expect(typeof r[1].error === 'string' && r[1].error.length > 0, 'bad item has an error');
  });

  await check('rotate', async () => {
    await vault.write(path(`keys/${key}/rotate`), {});
    const read = await vault.read(path(`keys/${key}`));
    expectEq(read.data.latest_version, 2, 'latest_version after rotate');
    const enc = await vault.write(path(`encrypt/${key}`), { plaintext: b64('after rotation') });
    expect(/^vault:v2:/.test(enc.data.ciphertext), `new ciphertext ${enc.data.ciphertext} says v2`);
    expectEq(enc.data.key_version, 2, 'key_version');
    const old = await vault.write(path(`decrypt/${key}`), { ciphertext: v1Ciphertext });
    expectEq(unb64(old.data.plaintext), 'the seal key share', 'v1 ciphertext still decrypts');
  });

  await check('rewrap', async () => {
    const rw = await vault.write(path(`rewrap/${key}`), { ciphertext: v1Ciphertext });
    expect(/^vault:v2:/.test(rw.data.ciphertext), `rewrapped ${rw.data.ciphertext} says v2`);
    const dec = await vault.write(path(`decrypt/${key}`), { ciphertext: rw.data.ciphertext });
    expectEq(unb64(dec.data.plaintext), 'the seal key share', 'plaintext');
  });

  await check('token lookup-self', async () => {
    const r = await vault.tokenLookupSelf();
    expect(typeof r.data.accessor === 'string' && r.data.accessor.length > 0, 'accessor');
    expect(Array.isArray(r.data.policies), 'policies is an array');
    expect(typeof r.data.ttl === 'number' && r.data.ttl >= 0, `ttl ${r.data.ttl}`);
    expect(typeof r.data.renewable === 'boolean', 'renewable is a boolean');
    expect(r.data.id === undefined || r.data.id !== token, 'the token is not echoed');
    expect(!JSON.stringify(r).includes(token), 'the token appears nowhere in the answer');
  });

  await check('token renew-self', async () => {
    const r = await vault.tokenRenewSelf({ increment: '1h' });
    expect(r.auth !== undefined && r.auth !== null, 'auth block');
    expect(typeof r.auth.lease_duration === 'number' && r.auth.lease_duration > 0, `lease_duration ${r.auth.lease_duration}`);
    expectEq(r.auth.renewable, true, 'renewable');
    expect(!r.auth.client_token, 'no client_token in the answer');
    expectEq(vault.token, token, 'client token unchanged');
    const s = await vault.tokenRenewSelf({ increment: 600 });
    expect(s.auth.lease_duration > 0, 'renewal with seconds');
  });

  await check('error: encrypt with a missing key', async () => {
    const body = await expectApiError(vault.write(path(`encrypt/${missing}`), { plaintext: b64('x') }), 400, 'encrypt');
    expect(body.errors.some((e) => /encryption key not found/.test(e)), `errors ${JSON.stringify(body.errors)}`);
  });

  await check('error: read a missing key', async () => {
    await expectApiError(vault.read(path(`keys/${missing}`)), 404, 'read');
  });

  await check('error: bad base64 plaintext', async () => {
    const body = await expectApiError(vault.write(path(`encrypt/${key}`), { plaintext: 'not base64!' }), 400, 'encrypt');
    expect(body.errors.length > 0, 'an error message');
  });

  await check('error: tampered ciphertext', async () => {
    const tampered = v1Ciphertext.slice(0, -4) + (v1Ciphertext.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await expectApiError(vault.write(path(`decrypt/${key}`), { ciphertext: tampered }), 400, 'decrypt');
  });

  await check('error: bad token', async () => {
    const other = nodeVault({ apiVersion: 'v1', endpoint: addr, token: 'not-a-token', requestOptions });
    const body = await expectApiError(other.write(path(`encrypt/${key}`), { plaintext: b64('x') }), 403, 'encrypt');
    expect(body.errors.length > 0, 'an error message');
  });

  const failed = results.filter((ok) => !ok).length;
  console.log(`${results.length - failed}/${results.length} checks passed`);
  process.exit(failed === 0 ? 0 : 1);
}

const deadline = setTimeout(() => {
  console.log('FAIL timeout: the checks did not finish within 120 s');
  process.exit(1);
}, 120000);
deadline.unref();

main().catch((err) => {
  console.log(`FAIL internal: ${(err && err.stack) || err}`);
  process.exit(1);
});
