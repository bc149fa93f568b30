import Router from '@koa/router';
import { respond, respondError } from './envelope.ts';

export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<{ ok: boolean; detail?: Record<string, unknown> }>;
}

/** `/healthz`: the process answers. `/readyz`: every dependency answers and projections are caught up. */
export function healthRouter(checks: readonly ReadinessCheck[], timeoutMs = 2000): Router {
  const router = new Router();
  const started = Date.now();
  router.get('/healthz', (ctx) => {
    respond(ctx, { status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 1000) });
  });
  router.get('/readyz', async (ctx) => {
    const results = await Promise.all(
      checks.map(async (check) => {
        try {
          const outcome = await withTimeout(check.check(), timeoutMs);
          return { name: check.name, ok: outcome.ok, ...(outcome.detail ?? {}) };
        } catch (error) {
          return { name: check.name, ok: false, error: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    const ready = results.every((result) => result.ok);
    if (ready) respond(ctx, { status: 'ready', checks: results });
    else respondError(ctx, 503, 'SERVICE_UNAVAILABLE', 'not ready', { checks: results });
  });
  return router;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
