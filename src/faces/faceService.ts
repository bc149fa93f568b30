import { AppError, hasCode } from '../errors/appError.ts';
import type { BlindIndex } from '../crypto/blindIndex.ts';
import type { FieldCipher } from '../crypto/fieldCipher.ts';
import { createKeyedMutex } from '../concurrency/keyedMutex.ts';
import type { RecentWrites } from '../consistency/recentWrites.ts';
import { recordFacts } from '../eventStore/commandHandler.ts';
import type { EventStore } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { missStream, signInStream, userStream } from '../ids/streams.ts';
import type { Matcher, GalleryKey } from '../matching/matcher.ts';
import type { UserDirectory, UserIdentity } from '../users/userDirectory.ts';
import type { UserRepository } from '../users/userRepository.ts';
import { aad, signInSubject, type IdentifyMissed, type LightingConditions, type SignInAttempted } from '../users/userEvents.ts';
import type { UserReadModel } from '../users/userReadModel.ts';
import { createEnrolmentDesk } from './enrolmentDesk.ts';
import { duplicateThresholdOf } from '../tenancy/tenant.ts';
import type { GalleryAccuracy } from './galleryAccuracy.ts';
import { adaptThreshold } from './threshold.ts';

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
  /** Global position of the registration's events (reads elsewhere may wait for it). */
  readonly position: bigint;
}

export interface VerifyInput {
  readonly userId: string;
  readonly descriptor: Float32Array;
  readonly lightingScore?: number;
  readonly threshold?: number;
  /** Instead of `threshold`: the threshold whose calibrated false match rate meets this (never below matchThreshold). */
  readonly targetFalseMatchRate?: number;
}

export interface VerifyResult {
  readonly isMatch: boolean;
  readonly similarity: number;
  readonly adaptedThreshold: number;
  readonly matchedTemplate: string | null;
  readonly user: { readonly id: string; readonly email: string };
  /** With targetFalseMatchRate: the calibrated false match rate at the threshold used. */
  readonly estimatedFalseMatchRate?: number;
  /** Global position of the sign-in attempt recorded. */
  readonly position: bigint;
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
  /** Estimated chance that a stranger reaches adaptedThreshold with some user of this gallery (faces/falseIdentification.ts). */
  readonly estimatedFalseIdentificationRate: number;
  /** Similarity of the closest user, matched or not (null for an empty gallery). */
  readonly bestSimilarity: number | null;
  readonly totalCompared: number;
  readonly processingTimeMs: number;
  /** Global position of the attempt (or miss) recorded. */
  readonly position: bigint;
}

export interface FaceServiceDeps {
  readonly store: EventStore;
  readonly users: UserRepository;
  readonly readModel: UserReadModel;
  readonly directory: UserDirectory;
  readonly cipher: FieldCipher;
  readonly blindIndex: BlindIndex;
  readonly matcher: Matcher;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  readonly recent: RecentWrites;
  /** Resolves once this instance's matcher has applied `position` (false after its bound). */
  readonly matcherAt: (position: bigint) => Promise<boolean>;
  /** The matcher feed's position: a command applies its own template locally only while the feed has not passed it. */
  readonly matcherPosition: () => bigint;
  /** Resolves once this instance's read models have applied `position` (bounded). */
  readonly awaitPosition: (position: bigint) => Promise<void>;
  /** Gallery-aware identify thresholds and verify's calibrated ones. */
  readonly accuracy: GalleryAccuracy;
}

/** Register, verify, identify and template removal: the commands behind /v1/faces. */
export interface FaceService {
  register(context: CommandContext, input: RegisterInput): Promise<RegisterResult>;
  verify(context: CommandContext, input: VerifyInput): Promise<VerifyResult>;
  identify(context: CommandContext, input: IdentifyInput): Promise<IdentifyResult>;
  removeTemplate(context: CommandContext, templateId: string): Promise<{ userId: string; position: bigint }>;
}

export function galleryKey(context: CommandContext): GalleryKey {
  return { tenantId: context.tenant.tenantId, mode: context.tenant.mode };
}

export function createFaceService(deps: FaceServiceDeps): FaceService {
  const { store, users, readModel, directory, cipher, blindIndex, matcher, ids, clock, recent } = deps;

  const desk = createEnrolmentDesk({
    store,
    users,
    matcher,
    cipher,
    ids,
    clock,
    matcherAt: deps.matcherAt,
    async storedFullName(context, userId) {
      const row = await readModel.findUser(context.tenant, userId);
      return row ? cipher.openText(userId, row.fullNameSealed, aad.fullName(userId)) : null;
    },
    onStored(key, outcome, descriptor, position) {
      // The command's own effects, applied here at once: a verify or identify on this instance
      // sees the template without waiting for the feed. The feed adds it again later (ignored);
      // once the feed has passed this position it has applied the template, and anything after it.
      if (deps.matcherPosition() < position) {
        matcher.add(key, { templateId: outcome.templateId, userId: outcome.userId, descriptor });
        for (const templateId of outcome.evictedTemplateIds) matcher.removeTemplate(key, templateId);
      }
      recent.enrolled(key.tenantId, key.mode, outcome.userId, position);
    },
  });

  // Registrations of one email run one at a time here; the reservation's expected revision
  // settles races with other processes.
  const emails = createKeyedMutex();

  async function register(context: CommandContext, input: RegisterInput): Promise<RegisterResult> {
    const { tenant } = context;
    if ((input.qualityScore ?? 1) < tenant.settings.minQuality) {
      throw new AppError('LOW_QUALITY', `qualityScore ${input.qualityScore} is below this tenant's minimum of ${tenant.settings.minQuality}`, {
        field: 'qualityScore',
        minQuality: tenant.settings.minQuality,
      });
    }
    const emailIndex = blindIndex.email(tenant.tenantId, tenant.mode, input.email);
    // Unless the tenant sets its own, a face refused here is one identify would sign in as that user.
    const duplicateThreshold =
      tenant.settings.duplicateThreshold === null && tenant.settings.targetFalseIdentificationRate !== null
        ? (await deps.accuracy.identifyThreshold(galleryKey(context), tenant.settings, tenant.settings.matchThreshold, false)).threshold
        : duplicateThresholdOf(tenant.settings);
    const outcome = await emails.run(emailIndex, () =>
      desk.enrol({
        context,
        email: input.email,
        emailIndex,
        ...(input.fullName !== undefined ? { fullName: input.fullName } : {}),
        descriptor: input.descriptor,
        quality: input.qualityScore ?? 0.5,
        lighting: input.lighting ?? null,
        source: input.source,
        model: input.model,
        duplicateThreshold,
      }),
    );
    return {
      userId: outcome.userId,
      email: input.email,
      templateId: outcome.templateId,
      qualityScore: input.qualityScore ?? 0.5,
      createdAt: clock().toISOString(),
      created: outcome.created,
      evictedTemplateIds: outcome.evictedTemplateIds,
      position: outcome.position,
    };
  }

  /**
   * Appends a sign-in attempt to the user's stream of the month, guarded by the user's own stream:
   * once the user is erased (that stream closed) the store refuses it, atomically, whatever this
   * instance still believed. Resolves with the position, or undefined when the user was erased.
   */
  async function recordSignIn(context: CommandContext, attempt: Omit<SignInAttempted['data'], 'ip' | 'userAgent' | 'logId'>): Promise<bigint | undefined> {
    const logId = ids.next('log');
    const { userId } = attempt;
    const at = clock();
    const subject = signInSubject(userId, at.toISOString());
    let data: SignInAttempted['data'];
    try {
      data = {
        ...attempt,
        logId,
        ip: context.ip ? await cipher.encryptText(subject, context.ip, aad.ip(logId)) : null,
        userAgent: context.userAgent ? await cipher.encryptText(subject, context.userAgent, aad.userAgent(logId)) : null,
      };
    } catch (error) {
      // The month's key is a child of the user's: it cannot be made once the user is erased.
      if (hasCode(error, 'NOT_FOUND')) return undefined;
      throw error;
    }
    try {
      const { position } = await recordFacts(store, signInStream(userId, at.toISOString()), [{ type: 'SignInAttempted', data }], {
        ids,
        metadata: eventMetadata(context, at),
        guards: [userStream(userId)],
      });
      recent.touched(context.tenant.tenantId, context.tenant.mode, userId, position);
      return position;
    } catch (error) {
      if (hasCode(error, 'STREAM_CLOSED')) {
        directory.forget(userId);
        return undefined;
      }
      throw error;
    }
  }

  /** A user's identity for a sign-in: this instance's directory, then the read model (waiting for this instance's own enrolment of them). */
  async function identityOf(context: CommandContext, userId: string): Promise<UserIdentity | undefined> {
    const found = await directory.find(context.tenant, userId);
    if (found) return found;
    const pending = recent.enrolmentOf(userId);
    if (pending === 0n) return undefined;
    await deps.awaitPosition(pending);
    return directory.find(context.tenant, userId);
  }

  const emailOf = (identity: UserIdentity) => cipher.openText(identity.userId, identity.emailSealed, aad.email(identity.userId));

  return {
    register,

    async verify(context, input) {
      const identity = await identityOf(context, input.userId);
      const email = identity ? await emailOf(identity) : null;
      if (!identity || email === null) throw new AppError('NOT_FOUND', 'user not found', { userId: input.userId });
      const { settings } = context.tenant;
      let adaptedThreshold = adaptThreshold(input.threshold ?? settings.matchThreshold, input.lightingScore);
      let estimatedFalseMatchRate: number | undefined;
      if (input.targetFalseMatchRate !== undefined) {
        if (input.targetFalseMatchRate < deps.accuracy.minFalseMatchRate) {
          throw new AppError('VALIDATION_ERROR', `targetFalseMatchRate: the calibration resolves rates down to ${deps.accuracy.minFalseMatchRate.toExponential(2)} (one false match in ${deps.accuracy.calibration.impostorPairs} impostor pairs)`, {
            field: 'targetFalseMatchRate',
            minimum: deps.accuracy.minFalseMatchRate,
          });
        }
        // Lighting may raise the floor, never lower it below the tenant's threshold.
        const calibrated = deps.accuracy.verifyThreshold(input.targetFalseMatchRate, Math.max(adaptedThreshold, settings.matchThreshold));
        adaptedThreshold = calibrated.threshold;
        estimatedFalseMatchRate = calibrated.estimatedFalseMatchRate;
      }
      const best = matcher.verify(galleryKey(context), input.userId, input.descriptor)[0];
      const similarity = best ? round(best.similarity) : 0;
      const isMatch = best !== undefined && best.similarity >= adaptedThreshold;
      const position = await recordSignIn(context, {
        userId: input.userId,
        kind: 'verify',
        outcome: isMatch ? 'success' : 'failure',
        similarity,
        threshold: adaptedThreshold,
        templateId: best?.templateId ?? null,
      });
      // Erased while this verify ran: the attempt was refused, and the answer names no one.
      if (position === undefined) throw new AppError('NOT_FOUND', 'user not found', { userId: input.userId });
      return { isMatch, similarity, adaptedThreshold, matchedTemplate: best?.templateId ?? null, user: { id: input.userId, email }, ...(estimatedFalseMatchRate !== undefined ? { estimatedFalseMatchRate } : {}), position };
    },

    async identify(context, input) {
      const started = process.hrtime.bigint();
      const key = galleryKey(context);
      const chosen = await deps.accuracy.identifyThreshold(key, context.tenant.settings, adaptThreshold(input.threshold ?? context.tenant.settings.matchThreshold, input.lightingScore), input.threshold !== undefined);
      const adaptedThreshold = chosen.threshold;
      const totalCompared = matcher.size(key);
      // Who is within the threshold, and (for a miss) how close the nearest user came: the scan's
      // bound is the threshold once someone is within it, so it reads little beyond.
      const { matches: above, nearest } = await matcher.identify(key, input.descriptor, { maxResults: input.maxResults, minSimilarity: adaptedThreshold, nearest: true });
      const identities = await directory.findMany(context.tenant, above.map((candidate) => candidate.userId));
      for (const candidate of above) if (!identities.has(candidate.userId) && recent.enrolmentOf(candidate.userId) > 0n) {
        const identity = await identityOf(context, candidate.userId);
        if (identity) identities.set(candidate.userId, identity);
      }
      let matches: IdentifyResult['matches'] = [];
      for (const candidate of above) {
        const identity = identities.get(candidate.userId);
        const email = identity ? await emailOf(identity) : null;
        // A user erased a moment ago may still be in this instance's matcher: never return it.
        if (email !== null) matches.push({ userId: candidate.userId, email, similarity: round(candidate.similarity), templateId: candidate.templateId });
      }
      let position: bigint | undefined;
      // The best match's sign-in is recorded; if the store refuses it (the user was erased while
      // this ran), that match is dropped and the next one takes its place.
      while (matches.length > 0 && position === undefined) {
        const top = matches[0]!;
        position = await recordSignIn(context, { userId: top.userId, kind: 'identify', outcome: 'success', similarity: top.similarity, threshold: adaptedThreshold, templateId: top.templateId });
        if (position === undefined) matches = matches.slice(1);
      }
      if (matches.length === 0) {
        const at = clock();
        const missed: IdentifyMissed['data'] = {
          logId: ids.next('log'),
          bestSimilarity: nearest ? round(nearest.similarity) : null,
          threshold: adaptedThreshold,
          totalCompared,
        };
        position = (await recordFacts(store, missStream(context.tenant.tenantId, context.tenant.mode, at.toISOString()), [{ type: 'IdentifyMissed', data: missed }], { ids, metadata: eventMetadata(context, at) })).position;
        recent.touched(context.tenant.tenantId, context.tenant.mode, undefined, position);
      }
      return {
        matches,
        adaptedThreshold,
        estimatedFalseIdentificationRate: chosen.estimatedFalseIdentificationRate,
        bestSimilarity: nearest ? round(nearest.similarity) : null,
        totalCompared,
        processingTimeMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        position: position!,
      };
    },

    async removeTemplate(context, templateId) {
      // A template registered on this instance a moment ago is in the read model once the
      // tenant's writes from here are: a wait only when some are pending.
      const pending = recent.tenantOf(context.tenant.tenantId, context.tenant.mode);
      if (pending > 0n) await deps.awaitPosition(pending);
      const template = await readModel.findTemplate(context.tenant, templateId);
      if (!template) throw new AppError('NOT_FOUND', 'template not found', { templateId });
      const { result } = await users.handle(template.userId, { type: 'RemoveTemplate', templateId }, context);
      if (deps.matcherPosition() < result.position) matcher.removeTemplate(galleryKey(context), templateId);
      recent.enrolled(context.tenant.tenantId, context.tenant.mode, template.userId, result.position);
      // Rare, and a client deleting a template expects it gone from every read right after.
      await deps.awaitPosition(result.position);
      return { userId: template.userId, position: result.position };
    },
  };
}

/** Similarities are reported to 4 decimals; the decision uses the exact value. */
function round(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}
