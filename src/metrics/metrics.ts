import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Gallery sizes are reported in these buckets (label `gallery`), so a scan's latency reads against its size. */
export function gallerySizeBucket(size: number): string {
  if (size <= 1_000) return '<=1k';
  if (size <= 10_000) return '<=10k';
  if (size <= 100_000) return '<=100k';
  if (size <= 1_000_000) return '<=1M';
  return '>1M';
}

/** What the service reports at GET /metrics (Prometheus text). One registry per service instance. */
export interface Metrics {
  readonly registry: Registry;
  /** The Prometheus text exposition of every metric, read now. */
  render(): Promise<string>;
  /** One answered HTTP request: its route template (or "unmatched"), method and status. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** One group-commit batch: how many appends it carried and how long its round trip took. */
  observeAppendBatch(units: number, seconds: number): void;
  /** One identify scan of a gallery of `size` templates. */
  observeScan(size: number, seconds: number): void;
  /** One image analysed: usable (`ok`), unusable (`refused`: no face, not an image) or `failed` (busy, timed out). */
  observeDetection(outcome: 'ok' | 'refused' | 'failed', seconds: number): void;
  /** One recorded webhook delivery attempt: delivered, failed (a retry is due) or failing (retries used up). */
  countDelivery(outcome: 'delivered' | 'failed' | 'failing'): void;
  /** One error answer, by its code (RATE_LIMITED and QUOTA_EXCEEDED are the plan's refusals). */
  countError(code: string): void;
  /** Values read when Prometheus scrapes: followers' positions and lag, matcher and queue sizes, statements sent. */
  readonly sources: MetricSources;
}

export interface MetricSources {
  followers?: () => Promise<ReadonlyArray<{ readonly name: string; readonly position: bigint; readonly lag: bigint }>>;
  templates?: () => number;
  detectionQueue?: () => number;
  queries?: () => { readonly queries: number; readonly errors: number; readonly totalMs: number };
}

export function createMetrics(options: { readonly defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const sources: MetricSources = {};

  const requests = new Histogram({
    name: 'facesmash_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const appendDuration = new Histogram({
    name: 'facesmash_eventstore_append_batch_duration_seconds',
    help: 'Round trip of one group-commit batch of appends (one transaction).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const appendUnits = new Histogram({
    name: 'facesmash_eventstore_append_batch_size',
    help: 'Appends committed together in one group-commit batch.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const scans = new Histogram({
    name: 'facesmash_matcher_scan_duration_seconds',
    help: 'Identify scans by gallery size bucket.',
    labelNames: ['gallery'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const detections = new Histogram({
    name: 'facesmash_detection_duration_seconds',
    help: 'Image analysis (decode, detection, landmarks, descriptor) by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  const deliveries = new Counter({ name: 'facesmash_webhook_deliveries_total', help: 'Recorded webhook delivery attempts by outcome (failing: retries used up).', labelNames: ['outcome'] as const, registers: [registry] });
  const errors = new Counter({
    name: 'facesmash_http_errors_total',
    help: "Error answers by code (RATE_LIMITED and QUOTA_EXCEEDED count the plan's refusals).",
    labelNames: ['code'] as const,
    registers: [registry],
  });

  new Gauge({
    name: 'facesmash_follower_position',
    help: "Global position each follower consumer has handled (projections, matcher, webhooks).",
    labelNames: ['consumer'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const follower of (await sources.followers?.()) ?? []) this.set({ consumer: follower.name }, Number(follower.position));
    },
  });
  new Gauge({
    name: 'facesmash_follower_lag',
    help: 'Positions between the head of the event store and each follower consumer.',
    labelNames: ['consumer'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const follower of (await sources.followers?.()) ?? []) this.set({ consumer: follower.name }, Number(follower.lag));
    },
  });
  new Gauge({
    name: 'facesmash_matcher_templates',
    help: 'Templates held by this instance\'s matcher (every tenant and mode).',
    registers: [registry],
    collect() {
      this.set(sources.templates?.() ?? 0);
    },
  });
  new Gauge({
    name: 'facesmash_detection_queue_depth',
    help: 'Images waiting for a detection thread.',
    registers: [registry],
    collect() {
      this.set(sources.detectionQueue?.() ?? 0);
    },
  });
  // The database layer keeps plain running totals; each scrape adds what is new since the last.
  let counted = { queries: 0, errors: 0, totalMs: 0 };
  const statements = new Counter({
    name: 'facesmash_database_statements_total',
    help: 'Statements run by the database layer, by result (ok or error).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const statementSeconds = new Counter({ name: 'facesmash_database_statement_seconds_total', help: 'Time spent in database statements (summed over concurrent ones).', registers: [registry] });
  const takeStatements = () => {
    const stats = sources.queries?.();
    if (!stats) return;
    statements.inc({ result: 'ok' }, Math.max(0, stats.queries - stats.errors - (counted.queries - counted.errors)));
    statements.inc({ result: 'error' }, Math.max(0, stats.errors - counted.errors));
    statementSeconds.inc(Math.max(0, stats.totalMs - counted.totalMs) / 1000);
    counted = { ...stats };
  };

  return {
    registry,
    sources,
    async render() {
      takeStatements();
      return registry.metrics();
    },
    observeRequest: (route, method, status, seconds) => requests.observe({ route, method, status: String(status) }, seconds),
    observeAppendBatch(units, seconds) {
      appendUnits.observe(units);
      appendDuration.observe(seconds);
    },
    observeScan: (size, seconds) => scans.observe({ gallery: gallerySizeBucket(size) }, seconds),
    observeDetection: (outcome, seconds) => detections.observe({ outcome }, seconds),
    countDelivery: (outcome) => deliveries.inc({ outcome }),
    countError: (code) => errors.inc({ code }),
  };
}
