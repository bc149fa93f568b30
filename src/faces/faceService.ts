import { AppError, hasCode } from '../errors/appError.ts';
import type { BlindIndex } from '../crypto/blindIndex.ts';
import type { FieldCipher } from '../crypto/fieldCipher.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { emailReservationStream, tenantStream, userStream } from '../ids/streams.ts';
import type { Matcher, GalleryKey } from '../matching/matcher.ts';
import type { UserRepository } from '../users/userRepository.ts';
import { aad, signInSubject, type IdentifyMissed, type LightingConditions, type SignInAttempted } from '../users/userEvents.ts';
import type { UserReadModel } from '../users/userReadModel.ts';
import { descriptorToBytes } from './descriptor.ts';
import { adaptThreshold } from './threshold.ts';
import { readReservation } from '../users/emailReservation.ts';
import { createKeyedMutex } from '../concurrency/keyedMutex.ts';

/** The face model every template's descriptor comes from (face-api.js faceRecognitionNet, 128-d). */
export const descriptorModel = 'faceRecognitionNet';

export interface RegisterInput {
  readonly email: string;
  /** Only the FaceSmash SDK's register sends it; stored sealed, shown by its users listing. */
  readonly fullName?: string;
  readonly descriptor: Float32Array;
  readonly qualityScore?: number;
  readonly lighting?: LightingConditions;
  readonly source: 'descriptor' | 'image';
  readonly model: string;
}

export interface RegisterResult {
  readonly userId: string;
  readonly email: string;
  readonly templateId: string;
  readonly qualityScore: number;
  readonly createdAt: string;
  /** True when this call created the user; false when it added a template to a known email. */
  readonly created: boolean;
  readonly evictedTemplateIds: readonly string[];
}

export interface VerifyInput {
  readonly userId: string;
  readonly descriptor: Float32Array;
  readonly lightingScore?: number;
  readonly threshold?: number;
}

export interface VerifyResult {
  readonly isMatch: boolean;
  readonly similarity: number;
  readonly adaptedThreshold: number;
  readonly matchedTemplate: string | null;
  readonly user: { readonly id: string; readonly email: string };
}

export interface IdentifyInput {
  readonly descriptor: Float32Array;
  readonly lightingScore?: number;
  readonly threshold?: number;
  readonly maxResults: number;
}

export interface IdentifyResult {
  readonly matches: Array<{ userId: string; email: string; similarity: number; templateId: string }>;
  readonly adaptedThreshold: number;
  /** Similarity of the closest user, matched or not (null for an empty gallery). */
  readonly bestSimilarity: number | null;
  readonly totalCompared: number;
  readonly processingTimeMs: number;
}

export interface FaceServiceDeps {
  readonly store: EventStore;
  readonly users: UserRepository;
  readonly readModel: UserReadModel;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly matcher: Matcher;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  /** Resolves once projections and the matcher have applied `position` on this instance (read-your-writes). */
  readonly awaitPosition: (position: bigint) => Promise<void>;
}

/** Register, verify, identify and template removal: the commands behind /v1/faces. */
export interface FaceService {
  register(context: CommandContext, input: RegisterInput): Promise<RegisterResult>;
  verify(context: CommandContext, input: VerifyInput): Promise<VerifyResult>;
  identify(context: CommandContext, input: IdentifyInput): Promise<IdentifyResult>;
  removeTemplate(context: CommandContext, templateId: string): Promise<{ userId: string }>;
}

export function galleryKey(context: CommandContext): GalleryKey {
  return { tenantId: context.tenant.tenantId, mode: context.tenant.mode };
}

export function createFaceService(deps: FaceServiceDeps): FaceService {
  const { store, users, readModel, cipher, blindIndex, matcher, ids, clock } = deps;

  async function sealTemplate(userId: string, templateId: string, input: RegisterInput) {
    return {
      userId,
      templateId,
      descriptor: await cipher.encryptBytes(userId, descriptorToBytes(input.descriptor), aad.descriptor(templateId)),
      quality: input.qualityScore ?? 0.5,
      lighting: input.lighting ?? null,
      source: input.source,
      model: input.model,
    };
  }

  async function refuseDuplicate(context: CommandContext, descriptor: Float32Array, ownUserId: string | undefined): Promise<void> {
    const threshold = context.tenant.settings.duplicateThreshold;
    const { matches } = await matcher.identify(galleryKey(context), descriptor, {
      maxResults: 1,
      minSimilarity: threshold,
      ...(ownUserId !== undefined ? { excludeUserId: ownUserId } : {}),
    });
    const other = matches[0];
    if (other) {
      throw new AppError('DUPLICATE_FACE', 'this face already belongs to another user', {
        matchedUserId: other.userId,
        similarity: round(other.similarity),
        duplicateThreshold: threshold,
      });
    }
  }

  // Registrations of one email run one at a time here; the reservation's expected revision
  // settles races with other processes.
  const emails = createKeyedMutex();

  async function register(context: CommandContext, input: RegisterInput): Promise<RegisterResult> {
    const emailIndex = blindIndex.email(context.tenant.tenantId, context.tenant.mode, input.email);
    return emails.run(emailIndex, () => registerOnce(context, input, emailIndex));
  }

  async function registerOnce(context: CommandContext, input: RegisterInput, emailIndex: string): Promise<RegisterResult> {
    const { tenant } = context;
    if ((input.qualityScore ?? 1) < tenant.settings.minQuality) {
      throw new AppError('LOW_QUALITY', `qualityScore ${input.qualityScore} is below this tenant's minimum of ${tenant.settings.minQuality}`, {
        field: 'qualityScore',
        minQuality: tenant.settings.minQuality,
      });
    }
    const reservationStream = emailReservationStream(emailIndex);
    for (let attempt = 1; ; attempt++) {
      const reservation = await readReservation(store, reservationStream);
      let userId = reservation.userId;
      // A reservation left by an erasure that stopped before releasing it belongs to nobody.
      if (userId !== undefined && (await users.load(userId)).state.status === 'erased') userId = undefined;
      if (userId === undefined) {
        await refuseDuplicate(context, input.descriptor, undefined);
        userId = ids.next('usr');
        try {
          await store.appendToStream(reservationStream, [{ id: ids.uuid(), type: 'EmailReserved', data: { userId }, metadata: eventMetadata(context, clock()) }], {
            expectedRevision: reservation.expected,
          });
        } catch (error) {
          // Another process reserved this email a moment ago: add to their user instead.
          if (!hasCode(error, 'WRONG_EXPECTED_REVISION')) throw error;
          if (attempt >= 10) throw new AppError('SERVICE_UNAVAILABLE', 'too many concurrent registrations of this email; retry shortly', { retryAfterSeconds: 1 }, { cause: error });
          continue;
        }
      } else {
        await refuseDuplicate(context, input.descriptor, userId);
      }
      const templateId = ids.next('tpl');
      const template = await sealTemplate(userId, templateId, input);
      const enrolledUserId = userId;
      const sealedEmail = await cipher.encryptText(userId, input.email, aad.email(userId));
      const sealedName = input.fullName && (await nameChanges(context, userId, input.fullName)) ? await cipher.encryptText(userId, input.fullName, aad.fullName(userId)) : null;
      const { events, result } = await users.handle(
        userId,
        // A reservation whose user stream is missing (a crash between the two appends) is completed here.
        (state) =>
          state.status === 'absent'
            ? { type: 'Enrol', userId: enrolledUserId, email: sealedEmail, emailIndex, fullName: sealedName, template }
            : { type: 'AddTemplate', template, maxTemplates: tenant.settings.maxTemplates, fullName: sealedName },
        context,
      );
      await deps.awaitPosition(result.position);
      return {
        userId,
        email: input.email,
        templateId,
        qualityScore: template.quality,
        createdAt: clock().toISOString(),
        created: events.some((event) => event.type === 'UserEnrolled'),
        evictedTemplateIds: events.flatMap((event) => (event.type === 'FaceTemplateRemoved' ? [event.data.templateId] : [])),
      };
    }
  }

  /** True unless the user is known with exactly this full name already (a new user always takes it). */
  async function nameChanges(context: CommandContext, userId: string, fullName: string): Promise<boolean> {
    const row = await readModel.findUser(context.tenant, userId);
    if (!row) return true;
    return (await cipher.openText(userId, row.fullNameSealed, aad.fullName(userId))) !== fullName;
  }

  async function recordSignIn(context: CommandContext, attempt: Omit<SignInAttempted['data'], 'ip' | 'userAgent' | 'logId'>): Promise<bigint> {
    const logId = ids.next('log');
    const { userId } = attempt;
    const at = clock();
    const subject = signInSubject(userId, at.toISOString());
    const data: SignInAttempted['data'] = {
      ...attempt,
      logId,
      ip: context.ip ? await cipher.encryptText(subject, context.ip, aad.ip(logId)) : null,
      userAgent: context.userAgent ? await cipher.encryptText(subject, context.userAgent, aad.userAgent(logId)) : null,
    };
    // No stream load: the user was found active in the read model, and sealing fails once the
    // user's key is destroyed (the month's key is its child), so an attempt cannot be recorded
    // after an erasure completes.
    const result = await store.appendToStream(userStream(userId), [{ id: ids.uuid(), type: 'SignInAttempted', data, metadata: eventMetadata(context, at) }], {
      expectedRevision: 'stream_exists',
    });
    return result.position;
  }

  const emailOf = (userId: string, sealed: string) => cipher.openText(userId, sealed, aad.email(userId));

  return {
    register,

    async verify(context, input) {
      const user = await readModel.findUser(context.tenant, input.userId);
      const email = user ? await emailOf(user.userId, user.emailSealed) : null;
      if (!user || email === null) throw new AppError('NOT_FOUND', 'user not found', { userId: input.userId });
      const adaptedThreshold = adaptThreshold(input.threshold ?? context.tenant.settings.matchThreshold, input.lightingScore);
      const best = matcher.verify(galleryKey(context), input.userId, input.descriptor)[0];
      const similarity = best ? round(best.similarity) : 0;
      const isMatch = best !== undefined && best.similarity >= adaptedThreshold;
      try {
        const position = await recordSignIn(context, {
          userId: input.userId,
          kind: 'verify',
          outcome: isMatch ? 'success' : 'failure',
          similarity,
          threshold: adaptedThreshold,
          templateId: best?.templateId ?? null,
        });
        await deps.awaitPosition(position);
      } catch (error) {
        if (hasCode(error, 'NOT_FOUND') || hasCode(error, 'WRONG_EXPECTED_REVISION')) throw new AppError('NOT_FOUND', 'user not found', { userId: input.userId });
        throw error;
      }
      return { isMatch, similarity, adaptedThreshold, matchedTemplate: best?.templateId ?? null, user: { id: input.userId, email } };
    },

    async identify(context, input) {
      const started = process.hrtime.bigint();
      const adaptedThreshold = adaptThreshold(input.threshold ?? context.tenant.settings.matchThreshold, input.lightingScore);
      const key = galleryKey(context);
      const totalCompared = matcher.size(key);
      // Ask without the threshold so a miss still knows how close the best candidate came.
      const { matches: candidates } = await matcher.identify(key, input.descriptor, { maxResults: input.maxResults, minSimilarity: 0 });
      const above = candidates.filter((candidate) => candidate.similarity >= adaptedThreshold);
      const rows = await readModel.findUsers(context.tenant, above.map((candidate) => candidate.userId));
      const matches: IdentifyResult['matches'] = [];
      for (const candidate of above) {
        const row = rows.get(candidate.userId);
        const email = row ? await emailOf(row.userId, row.emailSealed) : null;
        // A user erased a moment ago may still be in this instance's matcher: never return it.
        if (email !== null) matches.push({ userId: candidate.userId, email, similarity: round(candidate.similarity), templateId: candidate.templateId });
      }
      const top = matches[0];
      let position: bigint | undefined;
      if (top) {
        try {
          position = await recordSignIn(context, { userId: top.userId, kind: 'identify', outcome: 'success', similarity: top.similarity, threshold: adaptedThreshold, templateId: top.templateId });
        } catch (error) {
          if (!hasCode(error, 'NOT_FOUND') && !hasCode(error, 'WRONG_EXPECTED_REVISION')) throw error;
        }
      } else {
        const missed: IdentifyMissed['data'] = {
          logId: ids.next('log'),
          bestSimilarity: candidates[0] ? round(candidates[0].similarity) : null,
          threshold: adaptedThreshold,
          totalCompared,
        };
        position = (await store.appendToStream(tenantStream(context.tenant.tenantId), [{ id: ids.uuid(), type: 'IdentifyMissed', data: missed, metadata: eventMetadata(context, clock()) }])).position;
      }
      if (position !== undefined) await deps.awaitPosition(position);
      return { matches, adaptedThreshold, bestSimilarity: candidates[0] ? round(candidates[0].similarity) : null, totalCompared, processingTimeMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10 };
    },

    async removeTemplate(context, templateId) {
      const template = await readModel.findTemplate(context.tenant, templateId);
      if (!template) throw new AppError('NOT_FOUND', 'template not found', { templateId });
      const { result } = await users.handle(template.userId, { type: 'RemoveTemplate', templateId }, context);
      await deps.awaitPosition(result.position);
      return { userId: template.userId };
    },
  };
}

/** Similarities are reported to 4 decimals; the decision uses the exact value. */
function round(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}
