import type { LightingConditions } from '../users/userEvents.ts';

/** A face found in an image: what register, verify and identify need from it. */
export interface ExtractedFace {
  readonly descriptor: Float32Array;
  readonly qualityScore: number;
  readonly lightingScore: number;
  readonly lighting: LightingConditions;
  readonly model: string;
}

/** Port: turns an image into face descriptors (detection runs in its own worker pool). */
export interface FaceExtractor {
  /** Every face in the image, largest first. Throws VALIDATION_ERROR / UNSUPPORTED_MEDIA_TYPE for bad images. */
  extract(image: string): Promise<ExtractedFace[]>;
}
