// A bounded ACME load test with acme-client (npm), run by tests/acme_clients_e2e_test.cc:
// ACCOUNTS accounts order ORDERS certificates each, all accounts in parallel, http-01
// answered by this script's own HTTP server on HTTP_PORT (where the server's validation of
// every *.load.example.com name is sent). Then: every order gave a certificate for its name,
// no two certificates share a serial, and the server's nonce store stays bounded (a nonce
// fetched before MAX_NONCES*4 newer ones is refused as badNonce, a fresh one is accepted).
// Prints "ok ..." lines and a summary; exits non-zero on any failure. Trusts the server's
// CA through NODE_EXTRA_CA_CERTS.
'use strict';

const http = require('http');
const { X509Certificate } = require('crypto');
const acme = require('acme-client');

const directoryUrl = process.env.DIRECTORY;
const httpPort = Number(process.env.HTTP_PORT);
const accounts = Number(process.env.ACCOUNTS || 8);
const ordersPerAccount = Number(process.env.ORDERS || 3);
const maxNonces = Number(process.env.MAX_NONCES || 64);

const answers = new Map();  // token -> key authorization
let failures = 0;
function ok(cond, what) {
  if (cond) console.log(`ok ${what}`);
  else { failures++; console.log(`FAIL ${what}`); }
}

function newClient(accountKey) {
  return new acme.Client({ directoryUrl, accountKey, backoffMin: 50, backoffMax: 500, backoffAttempts: 40 });
}

async function runAccount(index) {
  const client = newClient(await acme.crypto.createPrivateEcdsaKey());
  const certificates = [];
  for (let j = 0; j < ordersPerAccount; j++) {
    const name = `a${index}-o${j}.load.example.com`;
    // An ECDSA certificate key: acme-client's default (RSA 2048, generated per CSR) took
    // 5-10 s of the client's CPU per order on a loaded host and dominated the figure.
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] },
                                                await acme.crypto.createPrivateEcdsaKey());
    const pem = await client.auto({
      csr,
      email: `load${index}@example.com`,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        answers.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (authz, challenge) => { answers.delete(challenge.token); },
    });
    certificates.push({ name, pem });
  }
  return certificates;
}

async function checkNonceBound() {
  const client = newClient(await acme.crypto.createPrivateEcdsaKey());
  await client.createAccount({ termsOfServiceAgreed: true });
  client.http.maxBadNonceRetries = 0;
  const url = await client.http.getResourceUrl('newOrder');
  const kid = client.getAccountUrl();
  const payload = { identifiers: [{ type: 'dns', value: 'nonce.load.example.com' }] };
  const oldest = await client.http.getNonce();
  for (let i = 0; i < maxNonces * 4; i++) await client.http.getNonce();
  const stale = await client.http.signedRequest(url, payload, { kid, nonce: oldest });
  ok(stale.status === 400 && stale.data.type === 'urn:ietf:params:acme:error:badNonce',
     `nonce store bounded: a nonce ${maxNonces * 4} nonces old is refused (${stale.status} ${stale.data.type})`);
  const fresh = await client.http.signedRequest(url, payload, { kid, nonce: await client.http.getNonce() });
  ok(fresh.status === 201, `a fresh nonce is accepted (${fresh.status} ${fresh.data && fresh.data.type} ${fresh.data && fresh.data.detail})`);
}

async function main() {
  const server = http.createServer((req, res) => {
    const prefix = '/.well-known/acme-challenge/';
    const answer = req.url.startsWith(prefix) && answers.get(req.url.slice(prefix.length));
    res.writeHead(answer ? 200 : 404, { 'Content-Type': 'text/plain' });
    res.end(answer || 'no such token');
  });
  await new Promise((resolve) => server.listen(httpPort, '127.0.0.1', resolve));

  const start = process.hrtime.bigint();
  const results = await Promise.allSettled(Array.from({ length: accounts }, (_, i) => runAccount(i)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const certificates = [];
  for (const r of results) {
    if (r.status === 'fulfilled') certificates.push(...r.value);
    else ok(false, `an account's orders: ${r.reason && r.reason.message}`);
  }
  ok(certificates.length === accounts * ordersPerAccount,
     `${certificates.length} of ${accounts * ordersPerAccount} orders gave a certificate`);
  const serials = new Set();
  let named = 0;
  for (const { name, pem } of certificates) {
    const leaf = new X509Certificate(pem);
    serials.add(leaf.serialNumber);
    if ((leaf.subjectAltName || '').split(', ').includes(`DNS:${name}`)) named++;
  }
  ok(named === certificates.length, `${named} certificates carry their order's name`);
  ok(serials.size === certificates.length, `${serials.size} distinct serials for ${certificates.length} certificates`);
  console.log(`summary: ${certificates.length} orders by ${accounts} parallel accounts in ${seconds.toFixed(2)} s, ` +
              `${(certificates.length / seconds).toFixed(2)} orders/s`);

  await checkNonceBound();
  server.close();
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => { console.log(`FAIL ${e.stack || e}`); process.exit(1); });
