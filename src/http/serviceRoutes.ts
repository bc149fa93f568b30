import { z } from 'zod';
import { AppError } from '../errors/appError.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { runChecks, type ReadinessCheck } from './health.ts';
import { route, routeGroup, written } from './routes/declaration.ts';
import { groups } from './routes/groups.ts';

export interface ServiceRouteDeps {
  readonly checks: readonly ReadinessCheck[];
  readonly metrics: Metrics;
  /** The OpenAPI document, as JSON text (built once). */
  readonly document: string;
  readonly startedAt: number;
}

const healthResponse = z.object({ status: z.literal('ok'), uptimeSeconds: z.number().int() });
const readinessResponse = z.object({
  status: z.literal('ready'),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean() }).catchall(z.unknown())),
});

/** The probes, the metrics and the API description: what operators and tools read. */
export const serviceRoutes = routeGroup<ServiceRouteDeps>(groups.service, [
  route({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    summary: 'Liveness: the process answers',
    description: 'Answers from the first moment the process listens, while the service is still starting (then with `starting`: the phase).',
    tags: ['health'],
    auth: { kind: 'open' },
    responses: [{ status: 200, description: 'The process is alive.', schema: healthResponse, name: 'HealthResponse', example: { status: 'ok', uptimeSeconds: 86400 } }],
    errors: ['INTERNAL_ERROR'],
    async handle(deps) {
      return { data: { status: 'ok', uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000) } };
    },
  }),
  route({
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    summary: 'Readiness: every dependency answers and the followers are caught up',
    description: 'While the service starts, 503 names the start-up phase; then each check (event store, database, matcher, face models, followers) says whether it is ready and why not.',
    tags: ['health'],
    auth: { kind: 'open' },
    responses: [
      {
        status: 200,
        description: 'Ready to serve.',
        schema: readinessResponse,
        name: 'ReadinessResponse',
        example: {
          status: 'ready',
          checks: [
            { name: 'eventStore', ok: true, kind: 'postgres' },
            { name: 'database', ok: true, kind: 'postgres', queries: 182311 },
            { name: 'matcher', ok: true, templates: 12840, position: '48213' },
            { name: 'models', ok: true, loadedInMs: 2140 },
            { name: 'followers', ok: true, maxLag: 1000, consumers: [{ name: 'projections', position: '48213', lag: '0', running: true }] },
          ],
        },
      },
    ],
    errors: ['INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'],
    async handle(deps) {
      const { ready, results } = await runChecks(deps.checks);
      if (!ready) throw new AppError('SERVICE_UNAVAILABLE', 'not ready', { checks: results });
      return { data: { status: 'ready', checks: results } };
    },
  }),
  route({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    description:
      'The Prometheus text exposition: request durations by route template, method and status; error answers by code; event store append latency and batch size; follower positions and lag; matcher templates and scan latency by gallery size; detection latency and queue depth; webhook attempts by outcome; database statements; process metrics. No tenant, key or personal data. With `METRICS_TOKEN` configured a scraper sends it as a bearer token; without, the route is open.',
    tags: ['health'],
    auth: { kind: 'metrics' },
    responses: [{ status: 200, description: 'Prometheus text format 0.0.4.', contentType: 'text/plain; version=0.0.4; charset=utf-8' }],
    errors: ['INTERNAL_ERROR'],
    async handle(deps, _input, ctx) {
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.render();
      return written;
    },
  }),
  route({
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'openApiDocument',
    summary: 'This document',
    description: 'OpenAPI 3.1, built from the route declarations that also build the router: every path, schema, error code and example here is what the service runs. Public: no key, not counted against any plan. A reference UI is served at /docs.',
    tags: ['docs'],
    auth: { kind: 'open' },
    responses: [
      {
        status: 200,
        description: 'The document itself (not an envelope).',
        contentType: 'application/json',
        contentSchema: { type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' }, components: { type: 'object' } } },
      },
    ],
    errors: ['INTERNAL_ERROR'],
    async handle(deps, _input, ctx) {
      ctx.type = 'application/json; charset=utf-8';
      ctx.set('Cache-Control', 'no-cache');
      ctx.body = deps.document;
      return written;
    },
  }),
]);
