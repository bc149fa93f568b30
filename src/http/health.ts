export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<{ ok: boolean; detail?: Record<string, unknown> }>;
}

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly [detail: string]: unknown;
}

/** Runs every readiness check at once, each bounded by `timeoutMs`: a check that throws or hangs is not ready, with the reason. */
export async function runChecks(checks: readonly ReadinessCheck[], timeoutMs = 2000): Promise<{ ready: boolean; results: CheckResult[] }> {
  const results = await Promise.all(
    checks.map(async (check): Promise<CheckResult> => {
      try {
        const outcome = await withTimeout(check.check(), timeoutMs);
        return { name: check.name, ok: outcome.ok, ...(outcome.detail ?? {}) };
      } catch (error) {
        return { name: check.name, ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return { ready: results.every((result) => result.ok), results };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
