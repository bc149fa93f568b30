import Router from '@koa/router';
import { AppError } from '../../errors/appError.ts';
import type { ExtractedFace } from '../../faces/faceExtractor.ts';
import type { DetectedFace, Detector } from '../../faces/detector.ts';
import { imageBodyLimit, readJsonBody } from '../jsonBody.ts';
import { validateIdempotencyKey } from '../idempotency.ts';
import { descriptorModel, type FaceService } from '../../faces/faceService.ts';
import type { UserReadModel } from '../../users/userReadModel.ts';
import { respond } from '../envelope.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import type { MatchCandidate } from '../../matching/matcher.ts';
import type { FieldCipher } from '../../crypto/fieldCipher.ts';
import { adaptThreshold } from '../../faces/threshold.ts';
import { aad } from '../../users/userEvents.ts';
import { parseInput } from '../validation.ts';
import { positionHeader, type ReadConsistency } from '../readConsistency.ts';
import { runCommand, type CommandRouteDeps } from './commandRoute.ts';
import { detectRequest, identifyRequest, registerRequest, templateIdSchema, userIdSchema, verifyRequest } from './schemas.ts';

export interface FacesRouteDeps extends CommandRouteDeps {
  readonly faces: FaceService;
  readonly readModel: UserReadModel;
  /** Image analysis (detection pool). */
  readonly detector: Detector;
  /** Decision replay: identify against the gallery as it was at a time. */
  readonly replayIdentify: (tenant: CommandContext['tenant'], at: Date, query: Float32Array, maxResults: number) => Promise<{ matches: MatchCandidate[]; totalCompared: number }>;
  readonly cipher: FieldCipher;
  readonly consistency: ReadConsistency;
}

/** /v1/faces: register, verify, identify, and a user's templates. */
export function facesRouter(deps: FacesRouteDeps): Router {
  const router = new Router({ prefix: '/v1/faces' });

  async function faceFrom(input: { descriptor?: number[]; image?: string }, single: boolean): Promise<{ descriptor: Float32Array; face?: ExtractedFace }> {
    if (input.descriptor !== undefined) return { descriptor: Float32Array.from(input.descriptor) };
    const faces = await deps.detector.extract(input.image!);
    if (faces.length === 0) throw new AppError('NO_FACE_DETECTED', 'no face was found in the image', { field: 'image' });
    if (single && faces.length > 1) throw new AppError('MULTIPLE_FACES', `the image holds ${faces.length} faces; send one`, { field: 'image', faces: faces.length });
    return { descriptor: faces[0]!.descriptor, face: faces[0]! };
  }

  router.post('/register', (ctx) =>
    runCommand(ctx, deps, registerRequest, { acceptsImage: true, scope: 'faces:register' }, async (input, context) => {
      const { descriptor, face } = await faceFrom(input, true);
      const result = await deps.faces.register(context, {
        email: input.email,
        descriptor,
        ...(input.qualityScore !== undefined ? { qualityScore: input.qualityScore } : face ? { qualityScore: face.qualityScore } : {}),
        ...(input.lightingConditions !== undefined ? { lighting: input.lightingConditions } : face ? { lighting: face.lighting } : {}),
        source: face ? 'image' : 'descriptor',
        model: face?.model ?? descriptorModel,
      });
      return {
        status: 201,
        data: { userId: result.userId, email: result.email, templateId: result.templateId, qualityScore: result.qualityScore, createdAt: result.createdAt },
        subjects: [result.userId],
        position: result.position,
      };
    }),
  );

  router.post('/verify', (ctx) =>
    runCommand(ctx, deps, verifyRequest, { acceptsImage: true, scope: 'faces:verify' }, async (input, context) => {
      const { descriptor, face } = await faceFrom(input, true);
      const lightingScore = input.lightingScore ?? face?.lightingScore;
      const result = await deps.faces.verify(context, {
        userId: input.userId,
        descriptor,
        ...(lightingScore !== undefined ? { lightingScore } : {}),
        ...(input.threshold !== undefined ? { threshold: input.threshold } : {}),
      });
      const { position, ...data } = result;
      return { status: 200, data, subjects: [input.userId], position };
    }),
  );

  router.post('/identify', (ctx) =>
    runCommand(ctx, deps, identifyRequest, { acceptsImage: true, scope: 'faces:identify' }, async (input, context) => {
      const { descriptor, face } = await faceFrom(input, false);
      const lightingScore = input.lightingScore ?? face?.lightingScore;
      if (input.at !== undefined) {
        const started = process.hrtime.bigint();
        const threshold = adaptThreshold(input.threshold ?? context.tenant.settings.matchThreshold, lightingScore);
        const replay = await deps.replayIdentify(context.tenant, new Date(input.at), descriptor, input.maxResults);
        const above = replay.matches.filter((match) => match.similarity >= threshold);
        const rows = await deps.readModel.findUsers(context.tenant, above.map((match) => match.userId));
        const matches = [];
        for (const match of above) {
          const row = rows.get(match.userId);
          const email = row ? await deps.cipher.openText(row.userId, row.emailSealed, aad.email(row.userId)) : null;
          matches.push({ userId: match.userId, email, similarity: Math.round(match.similarity * 1e4) / 1e4, templateId: match.templateId });
        }
        return {
          status: 200,
          data: { matches, totalCompared: replay.totalCompared, processingTimeMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10, at: new Date(input.at).toISOString() },
          subjects: matches.map((match) => match.userId),
        };
      }
      const result = await deps.faces.identify(context, {
        descriptor,
        maxResults: input.maxResults,
        ...(lightingScore !== undefined ? { lightingScore } : {}),
        ...(input.threshold !== undefined ? { threshold: input.threshold } : {}),
      });
      return {
        status: 200,
        data: { matches: result.matches, totalCompared: result.totalCompared, processingTimeMs: result.processingTimeMs },
        subjects: result.matches.map((match) => match.userId),
        position: result.position,
      };
    }),
  );

  router.post('/detect', async (ctx) => {
    deps.resolveTenant(ctx, 'faces:detect');
    const key = ctx.get('Idempotency-Key');
    if (key !== '') validateIdempotencyKey(key);
    const { value } = await readJsonBody(ctx, imageBodyLimit);
    const input = parseInput(detectRequest, value, 'body');
    const { faces } = await deps.detector.detect(input.image);
    const view = (face: DetectedFace) => ({ confidence: face.confidence, quality: face.quality, boundingBox: face.boundingBox, descriptor: Array.from(face.descriptor) });
    const [first] = faces;
    respond(ctx, first ? { detected: true, ...view(first), ...(faces.length > 1 ? { faces: faces.map(view) } : {}) } : { detected: false });
  });

  router.get('/templates/:userId', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'users:read');
    const userId = parseInput(userIdSchema, ctx.params.userId, 'path', 'userId');
    await deps.consistency.beforeRead(ctx, { tenant, userId });
    if (!(await deps.readModel.findUser(tenant, userId))) throw new AppError('NOT_FOUND', 'user not found', { userId });
    const templates = await deps.readModel.listTemplates(tenant, userId);
    respond(ctx, {
      templates: templates.map((t) => ({ id: t.templateId, qualityScore: t.quality, createdAt: t.createdAt.toISOString(), usageCount: t.usageCount, lastUsed: t.lastUsed?.toISOString() ?? null })),
      totalTemplates: templates.length,
      maxTemplates: tenant.settings.maxTemplates,
    });
  });

  router.delete('/templates/:templateId', async (ctx) => {
    const tenant = deps.resolveTenant(ctx, 'faces:register');
    const templateId = parseInput(templateIdSchema, ctx.params.templateId, 'path', 'templateId');
    const { position } = await deps.faces.removeTemplate({ tenant, requestId: String(ctx.state.requestId) }, templateId);
    ctx.set(positionHeader, position.toString());
    respond(ctx, { deleted: true, templateId });
  });

  return router;
}
