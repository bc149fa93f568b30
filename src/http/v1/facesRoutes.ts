import { z } from 'zod';
import { AppError } from '../../errors/appError.ts';
import type { ExtractedFace } from '../../faces/faceExtractor.ts';
import type { DetectedFace, Detector } from '../../faces/detector.ts';
import { descriptorModel, type FaceService } from '../../faces/faceService.ts';
import type { UserReadModel } from '../../users/userReadModel.ts';
import type { CommandContext } from '../../eventStore/metadata.ts';
import type { MatchCandidate } from '../../matching/matcher.ts';
import type { FieldCipher } from '../../crypto/fieldCipher.ts';
import { adaptThreshold } from '../../faces/threshold.ts';
import { aad } from '../../users/userEvents.ts';
import { imageBodyLimit } from '../jsonBody.ts';
import type { ReadConsistency } from '../readConsistency.ts';
import { route, routeGroup } from '../routes/declaration.ts';
import { example, exampleDescriptor } from '../routes/examples.ts';
import { groups } from '../routes/groups.ts';
import { bodyLimits, commandErrors, faceBodyErrors, readErrors } from '../routes/notes.ts';
import {
  deleteTemplateResponse,
  detectRequest,
  detectResponse,
  identifyRequest,
  identifyResponse,
  registerRequest,
  registerResponse,
  templateIdSchema,
  templatesResponse,
  userIdSchema,
  verifyRequest,
  verifyResponse,
} from './schemas.ts';

export interface FacesRouteDeps {
  readonly faces: FaceService;
  readonly readModel: UserReadModel;
  /** Image analysis (detection pool). */
  readonly detector: Detector;
  /** Decision replay: identify against the gallery as it was at a time. */
  readonly replayIdentify: (tenant: CommandContext['tenant'], at: Date, query: Float32Array, maxResults: number) => Promise<{ matches: MatchCandidate[]; totalCompared: number }>;
  readonly cipher: FieldCipher;
  readonly consistency: ReadConsistency;
}

async function faceFrom(deps: FacesRouteDeps, input: { descriptor?: number[]; image?: string }, single: boolean): Promise<{ descriptor: Float32Array; face?: ExtractedFace }> {
  if (input.descriptor !== undefined) return { descriptor: Float32Array.from(input.descriptor) };
  const faces = await deps.detector.extract(input.image!);
  if (faces.length === 0) throw new AppError('NO_FACE_DETECTED', 'no face was found in the image', { field: 'image' });
  if (single && faces.length > 1) throw new AppError('MULTIPLE_FACES', `the image holds ${faces.length} faces; send one`, { field: 'image', faces: faces.length });
  return { descriptor: faces[0]!.descriptor, face: faces[0]! };
}

const templatePath = z.strictObject({ id: templateIdSchema.meta({ description: 'A template id (`tpl_…`).' }) });
const userPath = z.strictObject({ id: userIdSchema.meta({ description: 'A user id (`usr_…`).' }) });

/** /v1/faces: register, verify, identify, detect, and a user's templates. */
export const facesRoutes = routeGroup<FacesRouteDeps>(groups.faces, [
  route({
    method: 'post',
    path: '/v1/faces/register',
    operationId: 'registerFace',
    summary: 'Register a face',
    description: `A new email creates the user; a known email adds a template (evicting the lowest-quality one beyond \`maxTemplates\`). A face that already belongs to another user is refused. ${bodyLimits}`,
    tags: ['faces'],
    auth: { kind: 'key', scope: 'faces:register' },
    body: { schema: registerRequest, name: 'RegisterRequest', description: 'An email and exactly one of `descriptor` or `image`.', limit: 'image', example: { email: example.email, descriptor: exampleDescriptor, qualityScore: 0.91 } },
    idempotency: 'stored',
    responses: [
      {
        status: 201,
        description: 'The template was registered.',
        schema: registerResponse,
        name: 'RegisterResponse',
        headers: ['Idempotent-Replayed', 'X-Position'],
        example: { userId: example.userId, email: example.email, templateId: example.templateId, qualityScore: 0.91, createdAt: example.at },
      },
    ],
    errors: [...faceBodyErrors, 'MULTIPLE_FACES', 'LOW_QUALITY', 'DUPLICATE_FACE', 'IDEMPOTENCY_CONFLICT', ...commandErrors],
    async handle(deps, { body, context }) {
      const { descriptor, face } = await faceFrom(deps, body, true);
      const result = await deps.faces.register(context, {
        email: body.email,
        descriptor,
        ...(body.qualityScore !== undefined ? { qualityScore: body.qualityScore } : face ? { qualityScore: face.qualityScore } : {}),
        ...(body.lightingConditions !== undefined ? { lighting: body.lightingConditions } : face ? { lighting: face.lighting } : {}),
        source: face ? 'image' : 'descriptor',
        model: face?.model ?? descriptorModel,
      });
      return {
        status: 201,
        data: { userId: result.userId, email: result.email, templateId: result.templateId, qualityScore: result.qualityScore, createdAt: result.createdAt },
        subjects: [result.userId],
        position: result.position,
      };
    },
  }),
  route({
    method: 'post',
    path: '/v1/faces/verify',
    operationId: 'verifyFace',
    summary: 'Verify a face against one user (1:1)',
    description: `Compares against every template of the user and records the sign-in attempt. ${bodyLimits}`,
    tags: ['faces'],
    auth: { kind: 'key', scope: 'faces:verify' },
    body: { schema: verifyRequest, name: 'VerifyRequest', description: 'A user id and exactly one of `descriptor` or `image`.', limit: 'image', example: { userId: example.userId, descriptor: exampleDescriptor } },
    idempotency: 'stored',
    responses: [
      {
        status: 200,
        description: 'The comparison, match or not.',
        schema: verifyResponse,
        name: 'VerifyResponse',
        headers: ['Idempotent-Replayed', 'X-Position'],
        example: { isMatch: true, similarity: 0.8731, adaptedThreshold: 0.45, matchedTemplate: example.templateId, user: { id: example.userId, email: example.email } },
      },
    ],
    errors: [...faceBodyErrors, 'MULTIPLE_FACES', 'NOT_FOUND', 'IDEMPOTENCY_CONFLICT', ...commandErrors],
    async handle(deps, { body, context }) {
      const { descriptor, face } = await faceFrom(deps, body, true);
      const lightingScore = body.lightingScore ?? face?.lightingScore;
      const result = await deps.faces.verify(context, {
        userId: body.userId,
        descriptor,
        ...(lightingScore !== undefined ? { lightingScore } : {}),
        ...(body.threshold !== undefined ? { threshold: body.threshold } : {}),
        ...(body.targetFalseMatchRate !== undefined ? { targetFalseMatchRate: body.targetFalseMatchRate } : {}),
      });
      const { position, ...data } = result;
      return { status: 200, data, subjects: [body.userId], position };
    },
  }),
  route({
    method: 'post',
    path: '/v1/faces/identify',
    operationId: 'identifyFace',
    summary: 'Identify a face among all users (1:N)',
    description: `Matches at or over the threshold, best first; a sign-in attempt is recorded. With \`at\`, the gallery as it was then answers (decision replay) and nothing is recorded. ${bodyLimits}`,
    tags: ['faces'],
    auth: { kind: 'key', scope: 'faces:identify' },
    body: { schema: identifyRequest, name: 'IdentifyRequest', description: 'Exactly one of `descriptor` or `image`.', limit: 'image', example: { descriptor: exampleDescriptor, maxResults: 3 } },
    idempotency: 'stored',
    responses: [
      {
        status: 200,
        description: 'The matches (possibly none).',
        schema: identifyResponse,
        name: 'IdentifyResponse',
        headers: ['Idempotent-Replayed', 'X-Position'],
        example: {
          matches: [{ userId: example.userId, email: example.email, similarity: 0.8731, templateId: example.templateId }],
          totalCompared: 12840,
          processingTimeMs: 3.4,
          adaptedThreshold: 0.62,
          estimatedFalseIdentificationRate: 0.00094,
        },
      },
    ],
    errors: [...faceBodyErrors, 'IDEMPOTENCY_CONFLICT', ...commandErrors],
    async handle(deps, { body, context }) {
      const { descriptor, face } = await faceFrom(deps, body, false);
      const lightingScore = body.lightingScore ?? face?.lightingScore;
      if (body.at !== undefined) {
        const started = process.hrtime.bigint();
        const threshold = adaptThreshold(body.threshold ?? context.tenant.settings.matchThreshold, lightingScore);
        const replay = await deps.replayIdentify(context.tenant, new Date(body.at), descriptor, body.maxResults);
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
          data: { matches, totalCompared: replay.totalCompared, processingTimeMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10, at: new Date(body.at).toISOString() },
          subjects: matches.map((match) => match.userId),
        };
      }
      const result = await deps.faces.identify(context, {
        descriptor,
        maxResults: body.maxResults,
        ...(lightingScore !== undefined ? { lightingScore } : {}),
        ...(body.threshold !== undefined ? { threshold: body.threshold } : {}),
      });
      return {
        status: 200,
        data: {
          matches: result.matches,
          totalCompared: result.totalCompared,
          processingTimeMs: result.processingTimeMs,
          adaptedThreshold: result.adaptedThreshold,
          estimatedFalseIdentificationRate: result.estimatedFalseIdentificationRate,
        },
        subjects: result.matches.map((match) => match.userId),
        position: result.position,
      };
    },
  }),
  route({
    method: 'post',
    path: '/v1/faces/detect',
    operationId: 'detectFaces',
    summary: 'Detect faces and measure their quality',
    description: `Decodes a JPEG, PNG or WebP (EXIF orientation applied; up to ${imageBodyLimit / 1024 / 1024} MB and 40 megapixels), detects faces of at least 40 px (a face filling the whole frame, as in a tight crop, included), their 68 landmarks and 128-d descriptors, in a worker pool. No face: \`detected: false\` and nothing else. The image is never stored. Detect appends no event and is deterministic, so a retry with the same Idempotency-Key gets the same answer without the answer (which holds descriptors) being stored.`,
    tags: ['faces'],
    auth: { kind: 'key', scope: 'faces:detect' },
    body: { schema: detectRequest, name: 'DetectRequest', description: 'An image as a data URL or base64.', limit: 'image', example: { image: example.image } },
    idempotency: 'validated',
    responses: [
      {
        status: 200,
        description: 'The faces found, largest first.',
        schema: detectResponse,
        name: 'DetectResponse',
        example: {
          detected: true,
          confidence: 0.9962,
          quality: { overallScore: 0.87, lightingScore: 0.82, sharpness: 0.64, faceSize: 0.21, faceWidthPx: 214, headPose: { yaw: -4.1, pitch: 2.3, roll: 0.8 }, eyeAspectRatio: 0.31 },
          boundingBox: { x: 148, y: 96, width: 214, height: 251 },
          descriptor: exampleDescriptor,
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE', 'TIMEOUT'],
    async handle(deps, { body }) {
      const { faces } = await deps.detector.detect(body.image);
      const view = (face: DetectedFace) => ({ confidence: face.confidence, quality: face.quality, boundingBox: face.boundingBox, descriptor: Array.from(face.descriptor) });
      const [first] = faces;
      return { data: first ? { detected: true, ...view(first), ...(faces.length > 1 ? { faces: faces.map(view) } : {}) } : { detected: false } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/faces/templates/{id}',
    operationId: 'listTemplates',
    summary: "List a user's templates",
    description: 'The path holds a user id here, and a template id on DELETE.',
    tags: ['faces'],
    auth: { kind: 'key', scope: 'users:read' },
    params: userPath,
    readAfter: true,
    responses: [
      {
        status: 200,
        description: 'The templates.',
        schema: templatesResponse,
        name: 'TemplatesResponse',
        example: {
          templates: [
            { id: example.templateId, qualityScore: 0.91, createdAt: example.earlier, usageCount: 14, lastUsed: example.at },
            { id: example.otherTemplateId, qualityScore: 0.84, createdAt: example.at, usageCount: 0, lastUsed: null },
          ],
          totalTemplates: 2,
          maxTemplates: 10,
        },
      },
    ],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...readErrors],
    async handle(deps, { params, tenant }, ctx) {
      const userId = params.id;
      await deps.consistency.beforeRead(ctx, { tenant, userId });
      if (!(await deps.readModel.findUser(tenant, userId))) throw new AppError('NOT_FOUND', 'user not found', { userId });
      const templates = await deps.readModel.listTemplates(tenant, userId);
      return {
        data: {
          templates: templates.map((t) => ({ id: t.templateId, qualityScore: t.quality, createdAt: t.createdAt.toISOString(), usageCount: t.usageCount, lastUsed: t.lastUsed?.toISOString() ?? null })),
          totalTemplates: templates.length,
          maxTemplates: tenant.settings.maxTemplates,
        },
      };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/faces/templates/{id}',
    operationId: 'deleteTemplate',
    summary: 'Delete a template',
    description: 'The path holds a template id here, and a user id on GET.',
    tags: ['faces'],
    auth: { kind: 'key', scope: 'faces:register' },
    params: templatePath,
    responses: [{ status: 200, description: 'The template was deleted.', schema: deleteTemplateResponse, name: 'DeleteTemplateResponse', headers: ['X-Position'], example: { deleted: true, templateId: example.templateId } }],
    errors: ['VALIDATION_ERROR', 'NOT_FOUND', ...commandErrors],
    async handle(deps, { params, context }) {
      const { position } = await deps.faces.removeTemplate(context, params.id);
      return { data: { deleted: true, templateId: params.id }, position };
    },
  }),
]);
