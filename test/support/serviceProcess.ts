import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../src/cli/bin.mjs', import.meta.url));

/** `npm start` as a child process: its log lines, its address, its first-start keys, and its exit. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Keys printed on the first start of the embedded default (undefined on later starts). */
  readonly firstKeys: { live: string; test: string } | undefined;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Resolves with the first log line whose `msg` matches. */
  waitForLog(pattern: RegExp): Promise<Record<string, unknown>>;
  /** Sends a signal; resolves with the exit code and the milliseconds from the signal to the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/** Starts `facesmash serve` with this environment (PORT 0 on loopback) and waits until it serves. */
export async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: { ...process.env, DATABASE_URL: '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      lines.push(line);
      for (const watch of [...watchers]) watch(line);
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const waitForLog = (pattern: RegExp) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = (line: string) => {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return false;
        }
        if (typeof parsed.msg === 'string' && pattern.test(parsed.msg)) {
          watchers.delete(check);
          resolve(parsed);
          return true;
        }
        return false;
      };
      for (const line of lines) if (check(line)) return;
      watchers.add(check);
      void exited.then(([code]) => {
        if (watchers.delete(check)) reject(new Error(`service exited (${code}) before logging ${pattern}: ${stderr}\n${lines.join('\n')}`));
      });
    });

  const listening = await waitForLog(/^listening$/);
  const port = String(listening.address).split(':').at(-1);
  // The port answers at once; the service behind it is composed after (the keys come then).
  await waitForLog(/^started$/);
  const key = (label: string) => lines.map((line) => new RegExp(`^\\s+${label} key\\s+(fs_\\S+)`).exec(line)?.[1]).find((found) => found !== undefined);
  const live = key('live');
  const test = key('test');
  return {
    child,
    baseUrl: `http://127.0.0.1:${port}`,
    firstKeys: live && test ? { live, test } : undefined,
    lines,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      const sent = Date.now();
      if (child.exitCode === null) child.kill(signal);
      const [code] = await exited;
      return { code, ms: Date.now() - sent };
    },
  };
}
