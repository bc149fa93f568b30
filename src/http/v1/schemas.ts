import { z } from 'zod';
import { descriptorLength } from '../../faces/descriptor.ts';
import { userEventTypes } from '../../users/userEvents.ts';
import { boundedArray } from '../validation.ts';

/**
 * Request and response schemas of /v1 (api-contract.md). Requests are strict: unknown fields are
 * refused. The same schemas generate the OpenAPI document.
 */

const unit = (name: string) => z.number({ error: `${name} must be a number` }).min(0, `${name} must be between 0 and 1`).max(1, `${name} must be between 0 and 1`);

const exactLength = `must have exactly ${descriptorLength} numbers`;
export const descriptorSchema = boundedArray(
  z.number({ error: 'must be a finite number' }),
  { min: descriptorLength, max: descriptorLength },
  { type: `must be an array of ${descriptorLength} numbers`, min: exactLength, max: exactLength },
).meta({ description: `A face descriptor: exactly ${descriptorLength} finite numbers (face-api.js faceRecognitionNet output).` });

/** An image (data URL or base64; JPEG, PNG or WebP). Accepted by the schema; analysed by the detector. */
export const imageSchema = z.string().min(1, 'must not be empty').meta({ description: 'An image as a data URL or base64 (JPEG, PNG or WebP).' });

export const emailSchema = z.email({ error: 'must be an email address' }).max(254, 'must be at most 254 characters');
export const userIdSchema = z.string().regex(/^usr_[0-9a-f]{32}$/, 'must be a user id (usr_ and 32 hex characters)');
export const templateIdSchema = z.string().regex(/^tpl_[0-9a-f]{32}$/, 'must be a template id (tpl_ and 32 hex characters)');

const faceInput = {
  descriptor: descriptorSchema.optional(),
  image: imageSchema.optional(),
};

/**
 * "Exactly one of descriptor or image" is a refinement, which JSON Schema conversion cannot see;
 * it is restated as metadata, which the conversion copies into the document.
 */
const oneFaceJsonSchema = { oneOf: [{ required: ['descriptor'] }, { required: ['image'] }] };

function oneFace<T extends { descriptor?: unknown; image?: unknown }>(value: T, ctx: z.RefinementCtx): void {
  if (value.descriptor === undefined && value.image === undefined) ctx.addIssue({ code: 'custom', path: ['descriptor'], message: 'descriptor or image is required' });
  if (value.descriptor !== undefined && value.image !== undefined) ctx.addIssue({ code: 'custom', path: ['image'], message: 'send either descriptor or image, not both' });
}

export const registerRequest = z
  .strictObject({
    email: emailSchema,
    ...faceInput,
    qualityScore: unit('qualityScore').optional(),
    lightingConditions: z.strictObject({ brightness: z.number().min(0).max(255), contrast: z.number().min(0).max(255) }).optional(),
  })
  .superRefine(oneFace)
  .meta(oneFaceJsonSchema);

const thresholdSchema = z.number().min(0.35, 'must be between 0.35 and 0.95').max(0.95, 'must be between 0.35 and 0.95');

export const verifyRequest = z
  .strictObject({
    userId: userIdSchema,
    ...faceInput,
    lightingScore: unit('lightingScore').optional(),
    threshold: thresholdSchema.optional(),
    targetFalseMatchRate: z
      .number({ error: 'must be a number' })
      .gt(0, 'must be between 0 and 0.1')
      .max(0.1, 'must be between 0 and 0.1')
      .optional()
      .meta({ description: "Instead of `threshold`: the lowest threshold whose false match rate, as calibrated by the accuracy bench, is at most this (never below the tenant's matchThreshold). Rates below what the calibration resolves are refused." }),
  })
  .superRefine(oneFace)
  .superRefine((value, ctx) => {
    if (value.threshold !== undefined && value.targetFalseMatchRate !== undefined) ctx.addIssue({ code: 'custom', path: ['targetFalseMatchRate'], message: 'send either threshold or targetFalseMatchRate, not both' });
  })
  .meta(oneFaceJsonSchema);

export const identifyRequest = z
  .strictObject({
    ...faceInput,
    lightingScore: unit('lightingScore').optional(),
    threshold: thresholdSchema.optional(),
    maxResults: z.number().int('must be a whole number').min(1, 'must be between 1 and 50').max(50, 'must be between 1 and 50').default(1),
    at: z.iso
      .datetime({ error: 'must be an ISO-8601 date-time' })
      .refine((value) => Date.parse(value) <= Date.now(), 'must not be in the future')
      .optional()
      .meta({ description: 'Decision replay: answer from the gallery as it was at this time. Records no sign-in.' }),
  })
  .superRefine(oneFace)
  .meta(oneFaceJsonSchema);

const pageParam = z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1 or more').default(1);
const perPageParam = z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be between 1 and 100').max(100, 'must be between 1 and 100').default(20);

export const listUsersQuery = z.strictObject({
  page: pageParam,
  perPage: perPageParam,
  sort: z.enum(['createdAt', '-createdAt', 'lastLogin', '-lastLogin'], { error: 'must be one of createdAt, -createdAt, lastLogin, -lastLogin' }).default('-createdAt'),
  email: emailSchema.optional(),
});

export const listLogsQuery = z.strictObject({
  page: pageParam,
  perPage: perPageParam,
  success: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((value) => value === 'true').optional(),
});

export const emptyQuery = z.strictObject({});

// Responses (documentation and tests read these; handlers build plain objects of these shapes).
const isoDate = z.iso.datetime();
export const registerResponse = z.object({ userId: userIdSchema, email: z.string(), templateId: templateIdSchema, qualityScore: z.number(), createdAt: isoDate });
export const verifyResponse = z.object({
  isMatch: z.boolean(),
  similarity: z.number(),
  adaptedThreshold: z.number(),
  matchedTemplate: templateIdSchema.nullable(),
  user: z.object({ id: userIdSchema, email: z.string() }),
  estimatedFalseMatchRate: z.number().optional().meta({ description: 'With targetFalseMatchRate: the calibrated false match rate at adaptedThreshold.' }),
});
export const identifyResponse = z.object({
  matches: z.array(
    z.object({
      userId: userIdSchema,
      email: z.string().nullable().meta({ description: 'Null only in a replay (`at`), for a user erased since.' }),
      similarity: z.number(),
      templateId: templateIdSchema,
    }),
  ),
  totalCompared: z.number().int(),
  processingTimeMs: z.number(),
  adaptedThreshold: z.number().optional().meta({ description: "The threshold used: the request's or the tenant's (lighting-adapted), or with the tenant's targetFalseIdentificationRate the gallery-aware one." }),
  estimatedFalseIdentificationRate: z
    .number()
    .optional()
    .meta({ description: 'Estimated chance that a stranger reaches adaptedThreshold with some user of this gallery, at its current size (see GET /admin/tenants/{id}/accuracy).' }),
  at: isoDate.optional().meta({ description: 'Present when the answer is a replay of the gallery at that time.' }),
});
export const detectRequest = z.strictObject({ image: imageSchema });
const faceQuality = z.object({
  overallScore: z.number(),
  lightingScore: z.number(),
  sharpness: z.number().meta({ description: 'Variance of the Laplacian of the face crop, normalised to 0-1.' }),
  faceSize: z
    .number()
    .min(0)
    .max(1)
    .meta({ description: "The face box's share of the frame: box width × box height / (image width × image height), as the FaceSmash SDK's face-size check computes it (it refuses under 0.02 and over 0.65)." }),
  faceWidthPx: z.number().int().meta({ description: 'Width of the face box in pixels of the original image.' }),
  headPose: z.object({ yaw: z.number(), pitch: z.number(), roll: z.number() }).meta({ description: 'Degrees, from the 68 landmarks.' }),
  eyeAspectRatio: z.number(),
});
const boundingBox = z.object({ x: z.number().int(), y: z.number().int(), width: z.number().int(), height: z.number().int() });
const detectedFace = z.object({ confidence: z.number(), quality: faceQuality, boundingBox, descriptor: z.array(z.number()).length(128) });
export const detectResponse = z.union([
  z.object({ detected: z.literal(false) }),
  z.object({
    detected: z.literal(true),
    confidence: z.number(),
    quality: faceQuality,
    boundingBox,
    descriptor: z.array(z.number()).length(128),
    faces: z.array(detectedFace).optional().meta({ description: 'Every face, largest first, when there are several.' }),
  }),
]);
export const historyQuery = z.strictObject({
  at: z.iso
    .datetime({ error: 'must be an ISO-8601 date-time' })
    .optional()
    .meta({ description: "Also return the user's state as it was at this time." }),
});
const historyEntry = z.object({
  type: z.enum(userEventTypes),
  occurredAt: isoDate,
  actorKeyId: z.string().nullable(),
  requestId: z.string().nullable(),
  stream: z.string().meta({ description: "The stream the event is in: the user's own (`user-…`) or a monthly sign-in stream (`signins-…`)." }),
  revision: z.string().meta({ description: 'The revision of the event in that stream.' }),
  position: z.string(),
  facts: z.record(z.string(), z.unknown()).optional().meta({ description: 'Non-biometric facts: ids, quality, similarity, outcome. Never an email, descriptor, IP or user agent.' }),
  erased: z.literal(true).optional().meta({ description: 'The user was erased: this event’s payload is gone with their key.' }),
});
export const historyResponse = z.object({
  userId: userIdSchema,
  status: z.enum(['active', 'erased']),
  events: z.array(historyEntry),
  stateAt: z
    .object({
      at: isoDate,
      status: z.enum(['absent', 'active', 'erased']),
      templates: z.array(z.object({ templateId: templateIdSchema, quality: z.number().nullable(), addedAt: isoDate })),
      counters: z.object({ loginCount: z.number().int(), successfulLogins: z.number().int(), failedLogins: z.number().int() }),
      thresholds: z.object({ matchThreshold: z.number(), duplicateThreshold: z.number(), maxTemplates: z.number().int() }),
    })
    .optional(),
});
export const templatesResponse = z.object({
  templates: z.array(z.object({ id: templateIdSchema, qualityScore: z.number(), createdAt: isoDate, usageCount: z.number().int(), lastUsed: isoDate.nullable() })),
  totalTemplates: z.number().int(),
  maxTemplates: z.number().int(),
});
export const deleteTemplateResponse = z.object({ deleted: z.literal(true), templateId: templateIdSchema });
const pagination = { totalItems: z.number().int(), page: z.number().int(), perPage: z.number().int(), totalPages: z.number().int() };
export const listUsersResponse = z.object({
  users: z.array(
    z.object({ id: userIdSchema, email: z.string(), createdAt: isoDate, lastLogin: isoDate.nullable(), loginCount: z.number().int(), templateCount: z.number().int(), successRate: z.number() }),
  ),
  ...pagination,
});
export const userResponse = z.object({
  id: userIdSchema,
  email: z.string(),
  createdAt: isoDate,
  lastLogin: isoDate.nullable(),
  loginCount: z.number().int(),
  successfulLogins: z.number().int(),
  failedLogins: z.number().int(),
  successRate: z.number(),
  avgQualityScore: z.number().nullable(),
  confidenceThreshold: z.number(),
  templateCount: z.number().int(),
});
const deletedRecords = z.object({ profile: z.number().int(), templates: z.number().int(), signInLogs: z.number().int() });
const digest = z.string().regex(/^[0-9a-f]{64}$/);
export const erasureReceipt = z
  .object({
    receiptId: z.string(),
    sequence: z.number().int().min(1),
    userId: userIdSchema,
    mode: z.enum(['live', 'test']),
    erasedAt: isoDate,
    position: z.string().meta({ description: 'Global position of the UserErased event.' }),
    keyIdDestroyed: z.string().nullable(),
    deletedRecords,
    previousDigest: digest,
    digest: digest.meta({ description: 'SHA-256 of previousDigest and this receipt (canonical JSON, without digest): removing or changing a receipt breaks the chain.' }),
  })
  .meta({ description: "An erasure receipt in the tenant's hash chain." });
export const deleteUserResponse = z.object({
  deleted: z.literal(true),
  userId: userIdSchema,
  deletedRecords,
  receipt: erasureReceipt,
});
export const listErasuresQuery = z.strictObject({ page: pageParam, perPage: perPageParam });
export const listErasuresResponse = z.object({
  receipts: z.array(erasureReceipt),
  chain: z.object({ length: z.number().int(), headDigest: digest, verified: z.boolean() }),
  ...pagination,
});
export const logsResponse = z.object({
  logs: z.array(z.object({ id: z.string(), success: z.boolean(), confidence: z.number(), ipAddress: z.string().nullable(), userAgent: z.string().nullable(), createdAt: isoDate })),
  ...pagination,
});
