import Router from '@koa/router';
import { AppError } from '../errors/appError.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { bearerTokenCheck } from './bearerToken.ts';

/**
 * `GET /metrics`: the Prometheus text exposition. With `token` set (METRICS_TOKEN) a scraper must
 * send it as a bearer token; without, anyone who reaches the port may read it (it carries no
 * tenant, key or personal data: route templates, counts and latencies).
 */
export function metricsRouter(metrics: Metrics, token: string | undefined): Router {
  const router = new Router();
  const authorised = token === undefined ? () => true : bearerTokenCheck(token);
  router.get('/metrics', async (ctx) => {
    if (!authorised(ctx)) throw new AppError('UNAUTHORIZED', 'the metrics token is required (Authorization: Bearer <METRICS_TOKEN>)');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.render();
  });
  return router;
}
