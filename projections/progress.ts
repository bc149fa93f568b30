/** Progress of a long replay: a redrawn bar on a terminal, plain lines elsewhere. */
export interface ProgressReporter {
  update(done: number, fraction: number): void;
  finish(done: number): void;
}

export interface ProgressOptions {
  readonly label: string;
  readonly write?: (text: string) => void;
  readonly isTTY?: boolean;
  /** Minimum time between two plain lines. */
  readonly lineIntervalMs?: number;
  readonly now?: () => number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(rest).padStart(2, '0')}` : `${String(m).padStart(2, '0')}:${String(rest).padStart(2, '0')}`;
}

/** One line of progress: events done of the estimated total, rate, ETA. */
export function progressLine(label: string, done: number, fraction: number, elapsedMs: number, width = 24): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const total = clamped > 0 ? Math.round(done / clamped) : undefined;
  const remaining = total !== undefined && rate > 0 ? (total - done) / rate : Number.NaN;
  const filled = Math.round(clamped * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const totalText = total !== undefined ? `~${total.toLocaleString('en-US')}` : '?';
  return `${label} ${bar} ${(clamped * 100).toFixed(1).padStart(5)}% ${done.toLocaleString('en-US')}/${totalText} events ${Math.round(rate).toLocaleString('en-US')} ev/s ETA ${formatDuration(remaining)}`;
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const isTTY = options.isTTY ?? process.stderr.isTTY === true;
  const now = options.now ?? Date.now;
  const interval = options.lineIntervalMs ?? 2000;
  const started = now();
  let lastLine = -Infinity;
  let lastDraw = -Infinity;
  return {
    update(done, fraction) {
      const t = now();
      if (isTTY) {
        if (t - lastDraw < 100) return;
        lastDraw = t;
        write(`\r${progressLine(options.label, done, fraction, t - started)}\x1b[K`);
      } else if (t - lastLine >= interval) {
        lastLine = t;
        write(`${progressLine(options.label, done, fraction, t - started)}\n`);
      }
    },
    finish(done) {
      const line = progressLine(options.label, done, 1, now() - started);
      write(isTTY ? `\r${line}\x1b[K\n` : `${line}\n`);
    },
  };
}
