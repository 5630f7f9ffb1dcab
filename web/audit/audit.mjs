// Runs the GraphQL-over-HTTP spec's audit suite (graphql-http's
// serverAudits) against the gateway and fails when any MUST or SHOULD audit
// fails. MAY audits are reported, never fatal.
//
// Against a gateway that is already running:
//   GATEWAY_URL=http://127.0.0.1:8080/graphql GATEWAY_AUTHORIZATION='Bearer …' node audit.mjs
// Otherwise it builds the gateway, starts `gateway dev -addr 127.0.0.1:0`
// (its own throwaway PostgreSQL), takes the internal service account's
// printed credential, audits, and stops the gateway.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverAudits } from 'graphql-http';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// authorization turns a printed credential into an Authorization value: a
// value that already names its scheme ("Bearer x", "Dev …") is used as it
// is, a bare token gets "Bearer ".
export function authorization(printed) {
  const v = printed.trim();
  return /^[A-Za-z][A-Za-z0-9_-]*\s+\S/.test(v) ? v : 'Bearer ' + v;
}

// startGateway builds and starts `gateway dev` and resolves once it printed
// its GraphQL URL and the internal service account's credential.
async function startGateway() {
  const dir = mkdtempSync(join(tmpdir(), 'gw-audit-'));
  const bin = join(dir, 'gateway');
  execFileSync('go', ['build', '-o', bin, './cmd/gateway'], { cwd: repo, stdio: 'inherit' });
  const child = spawn(bin, ['dev', '-addr', '127.0.0.1:0'], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stderr.on('data', d => {
    stderr = (stderr + d).slice(-4000);
  });
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('gateway not ready after 120s:\n' + out + stderr)), 120_000);
    child.on('exit', code => fail(new Error(`gateway exited (${code}) before it was ready:\n${out}${stderr}`)));
    child.stdout.on('data', d => {
      out += d;
      const url = out.match(/^GraphQL:\s+(http:\/\/\S+\/graphql)\s*$/m);
      const cred = out.match(/^\s*internal service account:\s+(.+?)\s*$/m);
      if (url && cred) {
        clearTimeout(timer);
        ok({ url: url[1], auth: authorization(cred[1]) });
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise(r => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return { ...(await ready), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function main() {
  let target;
  if (process.env.GATEWAY_URL) {
    target = {
      url: process.env.GATEWAY_URL,
      auth: process.env.GATEWAY_AUTHORIZATION ? authorization(process.env.GATEWAY_AUTHORIZATION) : '',
      stop: async () => {},
    };
  } else {
    target = await startGateway();
  }
  // Every audit request carries the credential: the audits test the
  // transport, not authentication (which has tests of its own).
  const fetchFn = (input, init = {}) => {
    const headers = new Headers(init.headers || {});
    if (target.auth && !headers.has('authorization')) headers.set('authorization', target.auth);
    return fetch(input, { ...init, headers });
  };
  let failed = 0;
  let passed = 0;
  try {
    for (const audit of serverAudits({ url: target.url, fetchFn })) {
      const res = await audit.fn();
      const level = audit.name.split(' ')[0];
      if (res.status === 'ok') {
        passed++;
        console.log(`ok    ${audit.id} ${audit.name}`);
        continue;
      }
      let body = '';
      try {
        body = await res.response.text();
      } catch {
        // body already read by the audit
      }
      const fatal = level === 'MUST' || level === 'SHOULD';
      if (fatal) failed++;
      else passed++;
      console.log(`${fatal ? 'FAIL ' : 'note '} ${audit.id} ${audit.name}: ${res.reason}` +
        (res.response ? ` (status ${res.response.status}${body ? ', body ' + body.slice(0, 300) : ''})` : ''));
    }
  } finally {
    await target.stop();
  }
  console.log(`audit: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
