// Face detection in a worker thread: decode once (sharp), find faces with as small a detector input
// as the image needs (faceSearch), then landmarks, the 128-d descriptor and quality of each face.
// Models load and warm up once per thread; nothing is fetched.
import sharp, { type OutputInfo } from 'sharp';
import { analyseFace, type FaceQuality } from './faceQuality.ts';
import { describeFace } from './faceDescriber.ts';
import { loadFaceModels, type FaceModels } from './faceModels.ts';
import { searchFaces, type FoundFace } from './faceSearch.ts';
import { clipRect, cropRegion, greyOf, type RgbImage } from './imageRegion.ts';
import type { SsdInputSize } from './ssdMobilenetV1.ts';

/** Faces smaller than this (box side, original pixels) are not reported: too small to trust. */
export const minFacePixels = 40;
/** Larger images are scaled down to this longest side once, at decoding; boxes are reported in original pixels. */
export const detectionSide = 1280;
/** Decoding refuses images with more pixels than this (decompression bombs). */
export const maxInputPixels = 40_000_000;
/** Detections under this score are not faces. */
export const minConfidence = 0.5;

export interface DetectTask {
  readonly image: Uint8Array;
}

export interface DetectedFace {
  readonly confidence: number;
  readonly boundingBox: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
  readonly descriptor: Float32Array;
  readonly quality: FaceQuality;
  /** Mean and standard deviation of the face crop's grey levels (0-255). */
  readonly lighting: { readonly brightness: number; readonly contrast: number };
}

export type DetectResult =
  | {
      readonly ok: true;
      readonly width: number;
      readonly height: number;
      readonly faces: DetectedFace[];
      readonly ms: number;
      /** Detector passes run (see faceSearch) and time spent per stage, for benches and logs. */
      readonly trace: { readonly passes: string[]; readonly decodeMs: number; readonly searchMs: number; readonly describeMs: number };
    }
  | { readonly ok: false; readonly code: 'VALIDATION_ERROR' | 'UNSUPPORTED_MEDIA_TYPE' | 'PAYLOAD_TOO_LARGE'; readonly message: string };

let ready: Promise<FaceModels> | undefined;

type Decoded = { readonly image: RgbImage; readonly width: number; readonly height: number };

async function decode(input: Buffer): Promise<Decoded | Extract<DetectResult, { ok: false }>> {
  try {
    const meta = await sharp(input, { limitInputPixels: maxInputPixels }).metadata();
    if (!['jpeg', 'png', 'webp'].includes(meta.format ?? '')) return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: `image: ${meta.format ?? 'unknown'} images are not accepted; send JPEG, PNG or WebP` };
    // EXIF orientations 5-8 swap width and height.
    const swap = (meta.orientation ?? 1) >= 5;
    const width = (swap ? meta.height : meta.width) ?? 0;
    const height = (swap ? meta.width : meta.height) ?? 0;
    const { data, info } = (await sharp(input, { limitInputPixels: maxInputPixels, failOn: 'truncated' })
      .rotate()
      .resize({ width: detectionSide, height: detectionSide, fit: 'inside', withoutEnlargement: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true })) as { data: Buffer; info: OutputInfo };
    if (info.channels !== 3) return { ok: false, code: 'VALIDATION_ERROR', message: 'image: the image could not be decoded to RGB' };
    return { image: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height }, width, height };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(message)) return { ok: false, code: 'PAYLOAD_TOO_LARGE', message: `image: more than ${maxInputPixels / 1_000_000} megapixels` };
    if (/unsupported image format|Input buffer contains unsupported/i.test(message)) return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'image: not a JPEG, PNG or WebP image' };
    return { ok: false, code: 'VALIDATION_ERROR', message: 'image: the image could not be decoded (truncated or corrupt)' };
  }
}

/** The image fitted into a size × size square (top left, as face-api pads; centred when bordered). */
async function letterbox(image: RgbImage, size: SsdInputSize, border: number) {
  const inner = size * (1 - 2 * border);
  const fit = inner / Math.max(image.width, image.height);
  const width = Math.max(1, Math.round(image.width * fit));
  const height = Math.max(1, Math.round(image.height * fit));
  const left = border > 0 ? Math.round((size - width) / 2) : 0;
  const top = border > 0 ? Math.round((size - height) / 2) : 0;
  const pixels = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .extend({ left, top, right: size - width - left, bottom: size - height - top, background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer();
  return { pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), left, top, scaleX: width / image.width, scaleY: height / image.height };
}

async function findFaces(models: FaceModels, image: RgbImage) {
  return searchFaces(async (size, border) => {
    const input = await letterbox(image, size, border);
    const detections = await models.ssd.locate(input.pixels, size, minConfidence);
    return detections.map(
      (d): FoundFace => ({
        score: d.score,
        box: {
          x: (d.left * size - input.left) / input.scaleX,
          y: (d.top * size - input.top) / input.scaleY,
          width: ((d.right - d.left) * size) / input.scaleX,
          height: ((d.bottom - d.top) * size) / input.scaleY,
        },
      }),
    );
  }, Math.max(image.width, image.height));
}

/** Loads the models and runs every pass once (the first inference of a shape is slow), so no request pays for it. */
export async function warmUp(): Promise<{ ms: number; simd: boolean; threads: number }> {
  const started = Date.now();
  ready ??= loadFaceModels();
  const models = await ready;
  const image: RgbImage = { data: new Uint8Array(256 * 256 * 3).fill(128), width: 256, height: 256 };
  for (const size of [256, 512] as const) await models.ssd.locate((await letterbox(image, size, 0)).pixels, size, minConfidence);
  await describeFace(models, image, { x: 64, y: 48, width: 128, height: 160 });
  return { ms: Date.now() - started, ...models.backend };
}

/** Detects every face in an encoded image (JPEG, PNG or WebP). Returns plain data. */
export async function detect(task: DetectTask): Promise<DetectResult> {
  const started = performance.now();
  ready ??= loadFaceModels();
  const models = await ready;
  const decoded = await decode(Buffer.from(task.image.buffer, task.image.byteOffset, task.image.byteLength));
  if ('ok' in decoded) return decoded;
  const { image, width, height } = decoded;
  const decodedAt = performance.now();
  const { faces: found, passes } = await findFaces(models, image);
  const searchedAt = performance.now();
  const scale = width / image.width;
  const faces: DetectedFace[] = [];
  for (const face of found) {
    const clipped = clipRect(face.box, image.width, image.height);
    const boundingBox = { x: Math.round(clipped.x * scale), y: Math.round(clipped.y * scale), width: Math.round(clipped.width * scale), height: Math.round(clipped.height * scale) };
    if (boundingBox.width < minFacePixels || boundingBox.height < minFacePixels) continue;
    const described = await describeFace(models, image, face.box);
    // Quality is measured on the image's own pixels only, not on the mirrored surroundings.
    const crop = cropRegion(image, clipped);
    const { quality, lighting } = analyseFace({
      grey: greyOf(crop),
      width: crop.width,
      height: crop.height,
      box: { x: clipped.x - Math.floor(clipped.x), y: clipped.y - Math.floor(clipped.y), width: clipped.width, height: clipped.height },
      landmarks: described.landmarks,
      confidence: face.score,
      faceWidthPixels: boundingBox.width,
      faceAreaShare: (boundingBox.width * boundingBox.height) / (width * height),
    });
    faces.push({ confidence: Math.round(face.score * 1e4) / 1e4, boundingBox, descriptor: described.descriptor, quality, lighting });
  }
  faces.sort((a, b) => b.boundingBox.width * b.boundingBox.height - a.boundingBox.width * a.boundingBox.height);
  const doneAt = performance.now();
  const ms = (t: number) => Math.round(t * 10) / 10;
  return { ok: true, width, height, faces, ms: ms(doneAt - started), trace: { passes, decodeMs: ms(decodedAt - started), searchMs: ms(searchedAt - decodedAt), describeMs: ms(doneAt - searchedAt) } };
}
