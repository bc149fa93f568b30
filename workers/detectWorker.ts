// Face detection in a worker thread: decode (sharp), detect faces, 68 landmarks and the 128-d
// descriptor (@vladmandic/face-api on @tensorflow/tfjs with the WebAssembly backend), and measure
// quality. Models load once per thread from the package's own files; nothing is fetched.
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { analyseFace, type FaceQuality } from './faceQuality.ts';

const require = createRequire(import.meta.url);

/** Faces smaller than this (box side, original pixels) are not reported: too small to trust. */
export const minFacePixels = 40;
/** Larger images are scaled down to this longest side before detection. */
export const detectionSide = 1280;
/** Decoding refuses images with more pixels than this (decompression bombs). */
export const maxInputPixels = 40_000_000;

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
  | { readonly ok: true; readonly width: number; readonly height: number; readonly faces: DetectedFace[]; readonly ms: number }
  | { readonly ok: false; readonly code: 'VALIDATION_ERROR' | 'UNSUPPORTED_MEDIA_TYPE' | 'PAYLOAD_TOO_LARGE'; readonly message: string };

type FaceApi = typeof import('@vladmandic/face-api');
let ready: Promise<{ faceapi: FaceApi; tf: typeof import('@tensorflow/tfjs') }> | undefined;

async function load() {
  const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void; setThreadsCount?(n: number): void };
  wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  await tf.setBackend('wasm');
  await tf.ready();
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  const models = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(models);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(models);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(models);
  return { faceapi, tf };
}

/** Loads the models (once per thread); the pool calls it at start so the first request is not slow. */
export async function warmUp(): Promise<{ ms: number }> {
  const started = Date.now();
  ready ??= load();
  await ready;
  return { ms: Date.now() - started };
}

/** Detects every face in an encoded image (JPEG, PNG or WebP). Returns plain data. */
export async function detect(task: DetectTask): Promise<DetectResult> {
  const started = Date.now();
  ready ??= load();
  const { faceapi, tf } = await ready;
  const input = Buffer.from(task.image.buffer, task.image.byteOffset, task.image.byteLength);
  let decoded: { data: Buffer; info: OutputInfo };
  let grey: { data: Buffer; info: OutputInfo };
  let width: number;
  let height: number;
  try {
    const image = sharp(input, { limitInputPixels: maxInputPixels, failOn: 'truncated' }).rotate();
    const meta = await sharp(input, { limitInputPixels: maxInputPixels }).metadata();
    if (!['jpeg', 'png', 'webp'].includes(meta.format ?? '')) return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: `image: ${meta.format ?? 'unknown'} images are not accepted; send JPEG, PNG or WebP` };
    // EXIF orientations 5-8 swap width and height.
    const swap = (meta.orientation ?? 1) >= 5;
    width = (swap ? meta.height : meta.width) ?? 0;
    height = (swap ? meta.width : meta.height) ?? 0;
    const resized = image.resize({ width: detectionSide, height: detectionSide, fit: 'inside', withoutEnlargement: true }).removeAlpha();
    decoded = await resized.clone().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    grey = await resized.clone().greyscale().raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(message)) return { ok: false, code: 'PAYLOAD_TOO_LARGE', message: `image: more than ${maxInputPixels / 1_000_000} megapixels` };
    if (/unsupported image format|Input buffer contains unsupported/i.test(message)) return { ok: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'image: not a JPEG, PNG or WebP image' };
    return { ok: false, code: 'VALIDATION_ERROR', message: 'image: the image could not be decoded (truncated or corrupt)' };
  }
  const scale = width / decoded.info.width;
  const channels = decoded.info.channels;
  const tensor = tf.tensor3d(new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.length), [decoded.info.height, decoded.info.width, channels], 'int32');
  try {
    const results = await faceapi.detectAllFaces(tensor as never, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 })).withFaceLandmarks().withFaceDescriptors();
    const faces: DetectedFace[] = [];
    for (const result of results) {
      const box = result.detection.box;
      const boundingBox = { x: Math.round(box.x * scale), y: Math.round(box.y * scale), width: Math.round(box.width * scale), height: Math.round(box.height * scale) };
      if (boundingBox.width < minFacePixels || boundingBox.height < minFacePixels) continue;
      const { quality, lighting } = analyseFace({
        grey: grey.data,
        width: grey.info.width,
        height: grey.info.height,
        box: { x: box.x, y: box.y, width: box.width, height: box.height },
        landmarks: result.landmarks.positions.map((p) => ({ x: p.x, y: p.y })),
        confidence: result.detection.score,
        faceWidthPixels: boundingBox.width,
      });
      faces.push({ confidence: Math.round(result.detection.score * 1e4) / 1e4, boundingBox, descriptor: Float32Array.from(result.descriptor), quality, lighting });
    }
    faces.sort((a, b) => b.boundingBox.width * b.boundingBox.height - a.boundingBox.width * a.boundingBox.height);
    return { ok: true, width, height, faces, ms: Date.now() - started };
  } finally {
    tensor.dispose();
  }
}

