import type { ErrorCode } from '../../errors/appError.ts';
import { descriptorBodyLimit, imageBodyLimit } from '../jsonBody.ts';

/** Codes and sentences many route declarations share. */

/** A body that may carry an image: validation, size, media type, and no face in the image. */
export const faceBodyErrors: readonly ErrorCode[] = ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'NO_FACE_DETECTED'];
/** A body without an image (the SDK's routes, webhooks, /admin). */
export const plainBodyErrors: readonly ErrorCode[] = ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
/** Commands append to the event store and consult the matcher: both can be saturated or slow. */
export const commandErrors: readonly ErrorCode[] = ['INTERNAL_ERROR', 'SERVICE_UNAVAILABLE', 'TIMEOUT'];
/** Reads may wait (bounded) for the read models to apply the caller's own writes, and answer 503 past the wait. */
export const readErrors: readonly ErrorCode[] = ['INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'];
/** Operator and webhook writes retry a few times on a concurrent change to the same tenant, then give up. */
export const tenantWriteErrors: readonly ErrorCode[] = ['WRONG_EXPECTED_REVISION', 'INTERNAL_ERROR'];

export const bodyLimits = `Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB, or ${imageBodyLimit / 1024 / 1024} MB when they carry an \`image\`.`;
export const sdkNote = `For the shipped \`@facesmash/sdk\` client: flat bodies, not the envelope; every failure carries \`error\` as a string (that client ignores the HTTP status). Same commands, events and limits as /v1. Bodies are limited to ${descriptorBodyLimit / 1024 / 1024} MB.`;
