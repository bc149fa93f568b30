import path from 'node:path';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { createBlindIndex, type BlindIndex } from '../crypto/blindIndex.ts';
import { createFieldCipher, type FieldCipher } from '../crypto/fieldCipher.ts';
import { resolveMasterKey } from '../crypto/masterKey.ts';
import { createSqlSubjectKeyStore, type SubjectKeyStore } from '../crypto/subjectKeys.ts';
import { openDatabase, type Database } from '../database/database.ts';
import { lockDataDir } from '../database/dataDirLock.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { createKurrentDbEventStore } from '../eventStore/kurrentdb/kurrentDbEventStore.ts';
import { createPostgresEventStore } from '../eventStore/postgres/postgresEventStore.ts';
import { createHttpApp } from '../http/app.ts';
import { docsDeps, docsRoutes } from '../http/docsRoutes.ts';
import { consoleDeps, consoleRoutes, rootRoutes } from '../http/consoleRoutes.ts';
import { devportalRoutes } from '../http/sdk/devportalRoutes.ts';
import { webhooksRoutes } from '../http/v1/webhooksRoutes.ts';
import { erasuresRoutes } from '../http/v1/erasuresRoutes.ts';
import { facesRoutes } from '../http/v1/facesRoutes.ts';
import { usersRoutes } from '../http/v1/usersRoutes.ts';
import { adminRoutes } from '../http/admin/adminRoutes.ts';
import { keyGuard } from '../http/v1/guard.ts';
import { createOperatorAccess } from '../http/v1/operatorAccess.ts';
import { requireScope } from '../http/auth.ts';
import { bearerTokenCheck } from '../http/bearerToken.ts';
import { AppError } from '../errors/appError.ts';
import { serviceRoutes } from '../http/serviceRoutes.ts';
import { mountGroup, type MountOptions } from '../http/routes/mount.ts';
import { openApiDocument } from '../http/routes/catalogue.ts';
import { createDrain, type Drain } from '../http/draining.ts';
import { createReadConsistency } from '../http/readConsistency.ts';
import { createCors } from '../http/cors.ts';
import { replayIdentify } from '../compliance/decisionReplay.ts';
import { applyRetention, type RetentionReport } from '../compliance/retention.ts';
import { createSqlDeliveryQueue } from '../webhooks/sqlDeliveryQueue.ts';
import { createWebhookRuntime, type WebhookRuntime } from '../webhooks/webhookRuntime.ts';
import { createWebhookService, type WebhookService } from '../webhooks/webhookService.ts';
import { createIdempotencyStore, type IdempotencyStore } from '../http/idempotency.ts';
import { createFaceService, type FaceService } from '../faces/faceService.ts';
import { falseMatchCalibration } from '../faces/falseMatchCalibration.ts';
import { createGalleryAccuracy, createNearestOtherReadModel } from '../faces/galleryAccuracy.ts';
import { randomIds } from '../ids/ids.ts';
import { createMatcher, type Matcher } from '../matching/matcher.ts';
import { createDetector, type Detector } from '../faces/detector.ts';
import { createGalleryImageFile, createImageKeeper } from '../matching/galleryImage.ts';
import { createMatcherFeed, type MatcherFeed, type MatcherLoad } from '../matching/matcherFeed.ts';
import { createTemplateOpener } from '../matching/templateOpener.ts';
import { createKeyHasher } from '../tenancy/apiKeys.ts';
import { createTenantReadModel } from '../tenancy/tenantReadModel.ts';
import { createTenantService, type IssuedKey, type TenantService } from '../tenancy/tenantService.ts';
import { createAuthenticator, type Authenticator } from '../http/auth.ts';
import { createRateLimiter, type RateLimiter } from '../http/rateLimit.ts';
import { createErasure } from '../users/erasure.ts';
import { createUserReadModel, type UserReadModel } from '../users/userReadModel.ts';
import { allProjections } from '../../projections/all.ts';
import type { Projection } from '../../projections/projection.ts';
import { createProjectionRunner, type ProjectionRunner } from '../../projections/runner.ts';
import { createFollower, type Follower } from '../eventStore/follower.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { instrumentMatcher, metricsMiddleware } from '../metrics/instrument.ts';
import { createRecentWrites, type RecentWrites } from '../consistency/recentWrites.ts';
import { createUserDirectory } from '../users/userDirectory.ts';
import { snapshotLegacyStreams, type LegacyStreamsReport } from '../migrations/snapshotLegacyStreams.ts';
import { createUserRepository, userDecider } from '../users/userRepository.ts';
import { tenantDecider } from '../tenancy/tenantService.ts';
import type { StreamDecider } from '../eventStore/commandHandler.ts';

/** Everything the service is made of, built from the configuration in one place. */
export interface Service {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: Database;
  readonly store: EventStore;
  readonly subjectKeys: SubjectKeyStore;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly projections: readonly Projection[];
  readonly runner: ProjectionRunner;
  /** The one reader of the store feeding the projections, the matcher and the webhooks (absent for one-shot CLI commands). */
  readonly follower: Follower | undefined;
  readonly matcher: Matcher;
  readonly detector: Detector;
  /** What GET /metrics reports (one registry per service). */
  readonly metrics: Metrics;
  readonly matcherFeed: MatcherFeed;
  readonly faces: FaceService;
  readonly readModel: UserReadModel;
  readonly idempotency: IdempotencyStore;
  readonly tenants: TenantService;
  readonly auth: Authenticator;
  readonly limiter: RateLimiter;
  readonly webhooks: WebhookService;
  readonly webhookRuntime: WebhookRuntime;
  /** Applies every tenant's retention settings once (the server also runs it on a timer). */
  applyRetention(): Promise<RetentionReport>;
  /** Resolves once this instance's read models have applied `position` (bounded wait). */
  awaitPosition(position: bigint): Promise<void>;
  /** Positions of this instance's recent writes, that reads on it wait for (read-your-writes). */
  readonly recent: RecentWrites;
  /** The one-off migration of streams older versions wrote, run in the background at start. */
  readonly migrations: Promise<LegacyStreamsReport | undefined>;
  readonly app: Koa;
  /** Graceful shutdown: once started, requests in flight finish and new ones get 503. */
  readonly drain: Drain;
  /** Closes everything in reverse order of creation. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  /** Start following the event store (the server does; one-shot CLI commands do not). */
  readonly startProjections: boolean;
  /** How long a command waits for its own events to reach the read models and matcher. */
  readonly readYourWritesTimeoutMs?: number;
  /** The clock of every command (tests move it to exercise retention). */
  readonly clock?: () => Date;
  /** Told each start-up phase as it begins (the server answers /readyz with it, and logs how long each took). */
  readonly onPhase?: (phase: string) => void;
  /**
   * Checks every answer against its route declaration (schema of the body, declared error codes)
   * and fails loudly on a mismatch: the test suite turns it on so every API test checks the document.
   */
  readonly checkResponses?: boolean;
  /** When the process started (the liveness probe's uptime); now by default. */
  readonly startedAt?: number;
}

/** Called once, on the embedded default's first start, with the default tenant and its first keys. */
export type FirstStartListener = (tenantId: string, keys: { live: IssuedKey; test: IssuedKey }) => void;

/** The composition root: builds every adapter from the parsed config and returns `{ app, close }` and the parts. */
export async function composeService(config: Config, logger: Logger, options: ComposeOptions, firstStart?: FirstStartListener): Promise<Service> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      try {
        await closer();
      } catch (error) {
        logger.error({ err: error }, 'error while closing');
      }
    }
    closers.length = 0;
  };
  try {
    const phase = options.onPhase ?? (() => {});
    phase('opening the database');
    const inMemory = config.database.kind === 'pglite' && config.database.dir.startsWith('memory://');
    if (config.database.kind === 'pglite' && !inMemory) closers.push(await lockDataDir(config.dataDir));
    const database = await openDatabase(config.database.kind === 'postgres' ? { kind: 'postgres', url: config.database.url } : { kind: 'pglite', dir: config.database.dir });
    closers.push(() => database.close());

    phase('migrating');
    const master = await resolveMasterKey(config.masterKey, config.dataDir);
    if (master.source === 'generated') {
      logger.warn({ file: master.file }, 'generated a new master key for the embedded database; back it up: without it no personal data can be read');
    }
    const subjectKeys = await createSqlSubjectKeyStore(database.db, master.key);
    const cipher = createFieldCipher(subjectKeys);
    const blindIndex = createBlindIndex(master.key);

    const metrics = createMetrics();
    metrics.sources.queries = () => database.queryStats();
    const store = config.eventStore.kind === 'kurrentdb' ? createKurrentDbEventStore({ connectionString: config.eventStore.url }) : await createPostgresEventStore(database, { onAppendBatch: (units, seconds) => metrics.observeAppendBatch(units, seconds) });
    closers.push(() => store.close());
    await store.ping();

    const projections = allProjections();
    const runner = createProjectionRunner({ db: database.db, store, projections, logger, batchSize: config.projectionBatchSize });
    const matcher = instrumentMatcher(createMatcher({ threads: config.matcherThreads }), metrics);
    metrics.sources.templates = () => matcher.size();
    closers.push(() => matcher.close());
    const detector = createDetector({ threads: config.detectThreads, onAnalysed: (outcome, seconds) => metrics.observeDetection(outcome, seconds) });
    metrics.sources.detectionQueue = () => detector.queueDepth();
    closers.push(() => detector.close());
    // Readiness of image analysis: the models load in the background; only image requests wait for them.
    let models: { ok: boolean; detail: Record<string, unknown> } = { ok: !options.startProjections, detail: { loading: true } };
    if (options.startProjections) {
      // Loads the models in the background: the first image request then does not pay for it.
      void detector.warmUp().then(
        (loaded) => {
          models = { ok: true, detail: { loadedInMs: loaded.ms } };
          logger.info(loaded, 'face models loaded');
        },
        (error: unknown) => {
          models = { ok: false, detail: { error: error instanceof Error ? error.message : String(error) } };
          logger.error({ err: error }, 'face models failed to load');
        },
      );
    }
    // Its threads open the load's pages and exit once idle; keys reach them, never a log.
    const templateOpener = createTemplateOpener({ masterKey: master.key, threads: config.matcherThreads });
    closers.push(() => templateOpener.close());
    // The matcher's sealed copy on this instance's disk (not for an embedded database in memory).
    const image =
      options.startProjections && config.matcherImage.enabled && !inMemory
        ? createGalleryImageFile({ file: path.join(config.dataDir, 'matcher.image'), keys: subjectKeys })
        : undefined;
    const matcherFeed = createMatcherFeed({ db: database.db, matcher, cipher, keys: subjectKeys, opener: templateOpener, ...(image ? { image, headPosition: () => store.headPosition() } : {}) });
    let matcherLoaded: MatcherLoad | undefined;
    if (options.startProjections) {
      phase('preparing the read models');
      await runner.prepare();
      phase('loading the matcher');
      const loaded = await matcherFeed.load();
      matcherLoaded = loaded;
      logger.info({ source: loaded.source, ...(loaded.image && loaded.image.reason !== 'none' ? { image: loaded.image } : {}), templates: loaded.templates, ms: loaded.ms, split: loaded.split }, 'matcher loaded');
      if (image) {
        const keeper = createImageKeeper({ image, matcher, position: () => matcherFeed.position(), intervalMs: config.matcherImage.intervalMs, logger });
        // Closed after the follower has stopped (closers run in reverse): the last image is at its final position.
        closers.push(() => keeper.close());
        // A start that read the read model leaves an image for the next one, in the background.
        if (loaded.source === 'read model') void keeper.refresh();
      }
    }
    // Started once every consumer has its checkpoint (below); until then nothing follows.
    let follower: Follower | undefined;

    const readYourWritesMs = options.readYourWritesTimeoutMs ?? 5000;
    const projectionNames = [runner.consumer.name];
    /** Waits (bounded) until this instance's read models have applied `position`. */
    const awaitPosition = async (position: bigint) => {
      // A one-shot CLI command has no live runner: it applies what it wrote before it reads. On
      // PostgreSQL its own event may not be readable yet (readers stop below the oldest running
      // transaction of the cluster, whoever holds it), so it catches up until it has passed it.
      if (!options.startProjections || !follower) {
        const deadline = Date.now() + readYourWritesMs;
        for (;;) {
          await runner.catchUp();
          if (runner.consumer.position() >= position) return;
          if (Date.now() >= deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        logger.warn({ position: position.toString() }, 'read-your-writes wait timed out');
        return;
      }
      const done = await follower.waitFor(position, readYourWritesMs, projectionNames);
      if (!done) logger.warn({ position: position.toString() }, 'read-your-writes wait timed out');
    };
    const matcherAt = async (position: bigint) => (follower ? follower.waitFor(position, readYourWritesMs, [matcherFeed.consumer.name]) : true);
    const recent = createRecentWrites();
    const ids = randomIds;
    const clock = options.clock ?? (() => new Date());
    const readModel = createUserReadModel(database.db);
    const users = createUserRepository(store, ids, clock);
    const idempotency = await createIdempotencyStore(database.db, cipher, subjectKeys, ids, clock);
    const directory = createUserDirectory(readModel);
    const accuracy = createGalleryAccuracy({ cells: createNearestOtherReadModel(database.db), users: (key) => matcher.users(key), calibration: falseMatchCalibration, clock: () => Date.now() });
    const faces = createFaceService({ store, users, readModel, directory, cipher, blindIndex, matcher, ids, clock, recent, matcherAt, matcherPosition: () => matcherFeed.position(), awaitPosition, accuracy });
    const erasure = createErasure({ store, users, keys: subjectKeys, matcher, ids, clock, awaitPosition, purgeElsewhere: async (userId) => {
        directory.forget(userId);
        await idempotency.purgeSubject(userId);
      },
    });
    const tenantReadModel = createTenantReadModel(database.db);
    const hasher = createKeyHasher(master.key);
    const tenants = createTenantService({ store, readModel: tenantReadModel, hasher, ids, clock, awaitPosition });
    const auth = createAuthenticator({ readModel: tenantReadModel, hasher, clock });
    const limiter = await createRateLimiter(database.db, clock);
    closers.push(() => limiter.close());
    const deliveryQueue = await createSqlDeliveryQueue(database.db);
    const webhooks = createWebhookService({ db: database.db, tenants, queue: deliveryQueue, cipher, keys: subjectKeys, ids, allowPrivate: config.webhookAllowPrivate });
    const webhookRuntime = createWebhookRuntime({
      store,
      queue: deliveryQueue,
      webhooks,
      cipher,
      logger,
      allowPrivate: config.webhookAllowPrivate,
      schedule: { delaysMs: config.webhookRetryDelaysMs },
      onAttempt: (outcome) => metrics.countDelivery(outcome),
    });
    if (options.startProjections) {
      phase('starting the followers');
      await webhookRuntime.start();
      closers.push(() => webhookRuntime.stop());
      // One reader of the store for every consumer: the read models, the matcher, the webhooks.
      const started = createFollower({ store, consumers: [runner.consumer, matcherFeed.consumer, webhookRuntime.consumer], logger, batchSize: config.projectionBatchSize, minCycleMs: config.followerCycleMs });
      started.start();
      closers.push(() => started.stop());
      follower = started;
      metrics.sources.followers = async () => (await started.status()).map((s) => ({ name: s.name, position: s.position, lag: s.lag }));
      // Writes the read models have applied need no read to wait for them any more.
      const settle = setInterval(() => {
        const applied = started.positions().filter((p) => projectionNames.includes(p.name));
        if (applied.length > 0) recent.settle(applied.reduce((min, p) => (p.position < min ? p.position : min), applied[0]!.position));
      }, 1000);
      settle.unref();
      closers.push(async () => clearInterval(settle));
    }
    // What older versions left in user and tenant streams is rewritten as snapshots, once, in
    // the background: the service answers meanwhile (commands on such streams just read more).
    const migrations: Promise<LegacyStreamsReport | undefined> = options.startProjections
      ? snapshotLegacyStreams({
          store,
          ids,
          clock,
          logger,
          aggregates: [
            { prefix: 'user-', legacyType: 'SignInAttempted', closingType: 'UserErased', decider: userDecider as StreamDecider<unknown, { type: string; data: unknown }> },
            { prefix: 'tenant-', legacyType: 'IdentifyMissed', decider: tenantDecider as StreamDecider<unknown, { type: string; data: unknown }> },
          ],
        }).catch((error: unknown) => {
          logger.error({ err: error }, 'migrating legacy streams failed; the next start tries again');
          return undefined;
        })
      : Promise.resolve(undefined);
    if (options.startProjections && config.database.kind === 'pglite' && (await tenants.listTenants()).length === 0) {
      // A tenant to develop with: enterprise, so its live key is never rate limited (its test key
      // counts as free, as every test key does). `facesmash tenants update ID --plan free` tries the limits.
      const first = await tenants.createTenant({ name: 'default', plan: 'enterprise' }, 'startup');
      firstStart?.(first.tenant.id, first.keys);
    }
    // Retention decides from the read models: first they catch up with everything stored so far.
    const runRetention = async () => {
      await awaitPosition(await store.headPosition());
      return applyRetention({ tenantReadModel, tenants, users: readModel, keys: subjectKeys, erase: (context, userId, reason) => erasure.erase(context, userId, reason), clock, logger });
    };
    if (options.startProjections) {
      const retention = setInterval(() => void runRetention().catch((error: unknown) => logger.error({ err: error }, 'retention failed')), config.retentionIntervalMs);
      retention.unref();
      closers.push(async () => clearInterval(retention));
      const sweeper = setInterval(() => {
        void idempotency.sweep().catch((error: unknown) => logger.error({ err: error }, 'idempotency sweep failed'));
        void limiter.sweep().catch((error: unknown) => logger.error({ err: error }, 'rate counter sweep failed'));
        // The delivery log keeps a week of successful deliveries.
        void deliveryQueue.pruneDelivered(new Date(Date.now() - 7 * 24 * 3_600_000)).catch((error: unknown) => logger.error({ err: error }, 'delivery log prune failed'));
      }, 10 * 60_000);
      sweeper.unref();
      closers.push(async () => clearInterval(sweeper));
    }

    const consistency = createReadConsistency({ recent, headPosition: () => store.headPosition(), readModelsAt: (position) => (follower ? follower.waitFor(position, readYourWritesMs, projectionNames) : runner.catchUp().then(() => true)) });
    const drain = createDrain();
    const cors = createCors({ originAllowed: (origin) => tenantReadModel.originAllowed(origin, clock()) });
    const adminCheck = config.adminToken !== undefined ? bearerTokenCheck(config.adminToken) : undefined;
    const metricsCheck = config.metricsToken !== undefined ? bearerTokenCheck(config.metricsToken) : undefined;
    const mount: MountOptions = {
      guards: {
        key: keyGuard(auth, limiter, cors, createOperatorAccess({ ...(adminCheck ? { isAdmin: adminCheck } : {}), readModel: tenantReadModel })),
        requireScope,
        ...(adminCheck
          ? {
              admin: (ctx) => {
                if (!adminCheck(ctx)) throw new AppError('UNAUTHORIZED', 'the admin token is required');
              },
            }
          : {}),
        metrics: (ctx) => {
          if (metricsCheck && !metricsCheck(ctx)) throw new AppError('UNAUTHORIZED', 'the metrics token is required (Authorization: Bearer <METRICS_TOKEN>)');
        },
      },
      idempotency,
      checkResponses: options.checkResponses ?? false,
    };
    const readiness = [
      { name: 'eventStore', check: async () => (await store.ping(), { ok: true, detail: { kind: store.kind } }) },
      { name: 'database', check: async () => (await database.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute(), { ok: true, detail: { kind: database.kind, queries: database.queryStats().queries } }) },
      { name: 'matcher', check: async () => ({ ok: true, detail: { templates: matcher.size(), position: matcherFeed.position().toString(), ...(matcherLoaded ? { loadedFrom: matcherLoaded.source, loadMs: matcherLoaded.ms } : {}) } }) },
      { name: 'models', check: async () => models },
      {
        name: 'followers',
        check: async () => {
          if (!follower) return { ok: false, detail: { reason: 'not following the event store' } };
          const statuses = await follower.status();
          const behind = statuses.filter((s) => s.lag > BigInt(config.readyMaxLag) || !s.running);
          return {
            ok: behind.length === 0,
            detail: {
              maxLag: config.readyMaxLag,
              consumers: statuses.map((s) => ({ name: s.name, position: s.position.toString(), lag: s.lag.toString(), running: s.running, ...(s.lastError ? { lastError: s.lastError } : {}) })),
            },
          };
        },
      },
    ];
    const routers = [
      mountGroup(facesRoutes, { faces, readModel, cipher, detector, consistency, replayIdentify: (tenant, at, query, maxResults) => replayIdentify({ store, cipher }, tenant, at, query, { maxResults }) }, mount),
      mountGroup(usersRoutes, { readModel, cipher, blindIndex, erase: erasure.erase, store, consistency }, mount),
      mountGroup(erasuresRoutes, { store }, mount),
      mountGroup(webhooksRoutes, { webhooks }, mount),
      mountGroup(devportalRoutes, { faces, readModel, cipher, blindIndex, erase: erasure.erase, consistency, directory }, mount),
      // Without ADMIN_TOKEN there is no /admin at all (404), rather than a door nobody can open.
      ...(config.adminToken !== undefined
        ? [
            mountGroup(
              adminRoutes,
              {
                tenants,
                accuracy,
                monthUsage: (tenantId) => limiter.monthUsage(tenantId),
                usageHistory: (tenantId, days) => limiter.history(tenantId, days),
                onKeysChanged: () => {
                  auth.forget();
                  cors.forget();
                },
              },
              mount,
            ),
          ]
        : []),
      mountGroup(serviceRoutes, { checks: readiness, metrics, document: JSON.stringify(openApiDocument()), startedAt: options.startedAt ?? Date.now() }, mount),
      mountGroup(docsRoutes, docsDeps(), mount),
      mountGroup(consoleRoutes, consoleDeps(), mount),
      mountGroup(rootRoutes, undefined, mount),
    ];
    const app = createHttpApp({ logger, cors: cors.middleware, metrics: metricsMiddleware(metrics), middleware: [drain.middleware], routers });

    logger.info({ database: database.kind, eventStore: store.kind, masterKey: master.source }, 'service composed');
    return { config, logger, metrics, database, store, subjectKeys, cipher, blindIndex, projections, runner, follower, matcher, matcherFeed, faces, readModel, idempotency, tenants, auth, limiter, webhooks, webhookRuntime, applyRetention: runRetention, awaitPosition, recent, migrations, detector, app, drain, close };
  } catch (error) {
    await close();
    throw error;
  }
}
