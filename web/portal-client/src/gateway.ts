// Builds and starts `gateway dev` (its own throwaway PostgreSQL) as
// web/audit/audit.mjs does, with the environment given, and reads the GraphQL
// URL and the dev tokens it prints.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A started gateway: its GraphQL URL, its dev tokens by name, and stop. */
export interface Gateway {
  url: string;
  /** token is the dev token printed for name, e.g. "admin, Northwind Estates". */
  token(name: string): string;
  stop(): Promise<void>;
}

/** startGateway builds ./cmd/gateway in repo and starts `gateway dev -addr 127.0.0.1:0`. */
export async function startGateway(repo: string, env: Record<string, string>): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-portal-client-'));
  const bin = join(dir, 'gateway');
  execFileSync('go', ['build', '-o', bin, './cmd/gateway'], { cwd: repo, stdio: 'inherit' });
  const child = spawn(bin, ['dev', '-addr', '127.0.0.1:0'], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(r => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('gateway not ready after 120s:\n' + out + stderr)), 120_000);
    child.on('exit', code => fail(new Error(`gateway exited (${code}) before it was ready:\n${out}${stderr}`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const url = out.match(/^GraphQL:\s+(http:\/\/\S+\/graphql)\s*$/m);
      if (url?.[1] && /^Ctrl-C/m.test(out)) {
        clearTimeout(timer);
        ok(url[1]);
      }
    });
  });
  try {
    const url = await ready;
    const token = (name: string) => {
      const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const m = out.match(new RegExp('^\\s*' + esc + ':\\s+(\\S+)\\s*$', 'm'));
      if (!m?.[1]) throw new Error(`gateway dev printed no token for "${name}"`);
      return m[1];
    };
    return { url, token, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
