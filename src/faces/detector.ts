import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { AppError } from '../errors/appError.ts';
import type { DetectedFace, DetectResult } from '../../workers/detectWorker.ts';
import type { ExtractedFace, FaceExtractor } from './faceExtractor.ts';
import { decodeImageField } from './imageInput.ts';

type DetectTrace = Extract<DetectResult, { ok: true }>['trace'];

export type { DetectedFace };

/** The model every image-derived descriptor comes from. */
export const imageModel = 'face-api/ssdMobilenetv1+faceLandmark68Net+faceRecognitionNet';

export interface Detector extends FaceExtractor {
  /** Every face of an image with quality (POST /v1/faces/detect), and where the worker spent its time. */
  detect(image: string): Promise<{ faces: DetectedFace[]; width: number; height: number; trace: DetectTrace }>;
  /** Loads the models and runs every detector pass once in every thread (start-up), so no request pays for it. */
  warmUp(): Promise<{ ms: number; simd: boolean; threads: number }>;
  /** Images waiting for a detection thread. */
  queueDepth(): number;
  close(): Promise<void>;
}

export interface DetectorOptions {
  readonly threads: number;
  /** Images waiting for a thread before requests get SERVICE_UNAVAILABLE. */
  readonly maxQueue?: number;
  readonly timeoutMs?: number;
  /**
   * Told of every image analysed (metrics): `ok`, `refused` (the image was unusable: no face, not
   * an image) or `failed` (busy, timed out, the thread failed), with the seconds it took.
   */
  readonly onAnalysed?: (outcome: 'ok' | 'refused' | 'failed', seconds: number) => void;
}

/**
 * Image analysis in its own Piscina pool (DETECT_THREADS, one by default), so decoding and the
 * networks run off the event loop and never starve the matcher's threads. Each thread holds its own
 * copy of the models; several threads serve several requests at once.
 */
export function createDetector(options: DetectorOptions): Detector {
  const pool = new Piscina({
    filename: fileURLToPath(new URL('../../workers/detectWorker.mjs', import.meta.url)),
    minThreads: options.threads,
    maxThreads: options.threads,
    maxQueue: options.maxQueue ?? 32,
    idleTimeout: 60_000,
  });
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function run(image: string): Promise<Extract<DetectResult, { ok: true }>> {
    const bytes = decodeImageField(image);
    const signal = AbortSignal.timeout(timeoutMs);
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    let result: DetectResult;
    try {
      result = (await pool.run({ image: bytes }, { name: 'detect', signal })) as DetectResult;
      options.onAnalysed?.(result.ok ? 'ok' : 'refused', seconds());
    } catch (error) {
      options.onAnalysed?.('failed', seconds());
      if (signal.aborted) throw new AppError('TIMEOUT', `image analysis took longer than ${timeoutMs} ms`, {}, { cause: error });
      if (/queue is at limit/i.test(String((error as Error)?.message))) throw new AppError('SERVICE_UNAVAILABLE', 'image analysis is busy; retry shortly', { retryAfterSeconds: 1 });
      throw error;
    }
    if (!result.ok) throw new AppError(result.code, result.message, { field: 'image' });
    return result;
  }

  return {
    async detect(image) {
      const { faces, width, height, trace } = await run(image);
      return { faces, width, height, trace };
    },
    async extract(image): Promise<ExtractedFace[]> {
      const { faces } = await run(image);
      return faces.map((face) => ({
        descriptor: face.descriptor,
        qualityScore: face.quality.overallScore,
        lightingScore: face.quality.lightingScore,
        lighting: face.lighting,
        model: imageModel,
      }));
    },
    async warmUp() {
      const results = (await Promise.all(Array.from({ length: options.threads }, () => pool.run({}, { name: 'warmUp' })))) as Array<{ ms: number; simd: boolean; threads: number }>;
      return { ms: Math.max(...results.map((r) => r.ms)), simd: results.every((r) => r.simd), threads: results[0]!.threads };
    },
    queueDepth: () => pool.queueSize,
    close: () => pool.destroy(),
  };
}
