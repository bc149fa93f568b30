/**
 * Events of a user's stream and of email reservations. Names and fields are part of the contract
 * (design.md): add versions, never change them. Personal fields hold sealed values (`fse1:…`),
 * encrypted with the user's data key; the aad of each is named beside it.
 */

export interface LightingConditions {
  readonly brightness: number;
  readonly contrast: number;
}

export interface UserEnrolled {
  readonly type: 'UserEnrolled';
  readonly data: {
    readonly userId: string;
    /** Sealed; aad `<userId>:email`. */
    readonly email: string;
    /** Keyed blind index of the normalised email (not reversible without the master key). */
    readonly emailIndex: string;
    /** Sealed; aad `<userId>:fullName`. Sent by the FaceSmash SDK's register; absent or null otherwise. */
    readonly fullName?: string | null;
  };
}

export interface FaceTemplateAdded {
  readonly type: 'FaceTemplateAdded';
  readonly data: {
    readonly userId: string;
    readonly templateId: string;
    /** Sealed 128 float32 (little-endian); aad `<templateId>:descriptor`. */
    readonly descriptor: string;
    readonly quality: number;
    readonly lighting: LightingConditions | null;
    readonly source: 'descriptor' | 'image';
    readonly model: string;
    /**
     * Similarity of the nearest other user of the gallery when the template joined it (null for
     * the first face): a non-personal number, the gallery's empirical impostor distribution.
     */
    readonly nearestOtherSimilarity?: number | null;
    /** Other users the face was compared with (absent in older events). */
    readonly comparedUsers?: number;
    /** The duplicate threshold of that check: nearestOtherSimilarity is below it (absent in older events). */
    readonly duplicateThreshold?: number;
  };
}

export interface FaceTemplateRemoved {
  readonly type: 'FaceTemplateRemoved';
  readonly data: { readonly userId: string; readonly templateId: string; readonly reason: 'api' | 'evicted' };
}

export interface SignInAttempted {
  readonly type: 'SignInAttempted';
  readonly data: {
    readonly userId: string;
    readonly logId: string;
    readonly kind: 'verify' | 'identify';
    readonly outcome: 'success' | 'failure';
    readonly similarity: number;
    readonly threshold: number;
    readonly templateId: string | null;
    /** Sealed with the key of `signInSubject(userId, occurredAt)`; aad `<logId>:ip`. */
    readonly ip: string | null;
    /** Sealed like `ip`; aad `<logId>:userAgent`. */
    readonly userAgent: string | null;
  };
}

/** A user's profile changed (the FaceSmash SDK's register sent another full name for a known email). */
export interface UserProfileChanged {
  readonly type: 'UserProfileChanged';
  readonly data: {
    readonly userId: string;
    /** Sealed; aad `<userId>:fullName`. */
    readonly fullName: string;
  };
}

export interface UserErased {
  readonly type: 'UserErased';
  readonly data: { readonly userId: string; readonly emailIndex: string; readonly reason: 'api' | 'retention' };
}

export type UserEvent = UserEnrolled | FaceTemplateAdded | FaceTemplateRemoved | SignInAttempted | UserProfileChanged | UserErased;

export const userEventTypes = ['UserEnrolled', 'FaceTemplateAdded', 'FaceTemplateRemoved', 'SignInAttempted', 'UserProfileChanged', 'UserErased'] as const;

/** Reservation of an email (by blind index) for one user of a tenant and mode: the write-side uniqueness check. */
export interface EmailReserved {
  readonly type: 'EmailReserved';
  readonly data: { readonly userId: string };
}

export interface EmailReleased {
  readonly type: 'EmailReleased';
  readonly data: { readonly userId: string };
}

export type EmailReservationEvent = EmailReserved | EmailReleased;

/** Gallery stream: a template joined a tenant and mode's gallery after its duplicate check (no personal data). */
export interface FaceClaimed {
  readonly type: 'FaceClaimed';
  readonly data: {
    readonly userId: string;
    readonly templateId: string;
    readonly nearestOtherSimilarity: number | null;
    /** Other users the face was compared with; with the threshold, what the gallery-stats projection records (absent in older events). */
    readonly comparedUsers?: number;
    /** The duplicate threshold of the check: nearestOtherSimilarity is below it (absent in older events). */
    readonly duplicateThreshold?: number;
  };
}

/** An identify that found no candidate (no personal data), in the tenant and mode's stream of the day. */
export interface IdentifyMissed {
  readonly type: 'IdentifyMissed';
  readonly data: { readonly logId: string; readonly bestSimilarity: number | null; readonly threshold: number; readonly totalCompared: number };
}

/** Sealing aads, in one place so writers and readers cannot drift apart. */
export const aad = {
  email: (userId: string) => `${userId}:email`,
  fullName: (userId: string) => `${userId}:fullName`,
  descriptor: (templateId: string) => `${templateId}:descriptor`,
  ip: (logId: string) => `${logId}:ip`,
  userAgent: (logId: string) => `${logId}:userAgent`,
} as const;

/**
 * The key that seals a sign-in's IP and user agent: a child of the user's key per UTC month, so
 * log retention can destroy whole months (and erasure destroys them all with the user's key).
 */
export function signInSubject(userId: string, occurredAt: string): string {
  return `${userId}/signins/${occurredAt.slice(0, 7)}`;
}
