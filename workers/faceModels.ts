// The face models of one detection thread: @tensorflow/tfjs on its WebAssembly backend (the SIMD
// build where the runtime validates SIMD, which every Node we support does), face-api's three nets
// loaded from the package's own files (nothing is fetched), and our fused runners of two of them.
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Tf from '@tensorflow/tfjs';
import { createFaceRecognizer, type FaceRecognizer } from './faceRecognitionResNet.ts';
import { createSsdDetector, type SsdDetector } from './ssdMobilenetV1.ts';

const require = createRequire(import.meta.url);

export type FaceApi = typeof import('@vladmandic/face-api');

export interface FaceModels {
  readonly tf: typeof Tf;
  readonly faceapi: FaceApi;
  readonly ssd: SsdDetector;
  readonly recognizer: FaceRecognizer;
  /** What the WebAssembly backend runs with on this machine. */
  readonly backend: { readonly simd: boolean; readonly threads: number };
}

/** Loads tfjs-wasm and the nets. Call once per thread. */
export async function loadFaceModels(): Promise<FaceModels> {
  const tf = require('@tensorflow/tfjs') as typeof Tf;
  const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void; getThreadsCount(): number };
  wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  await tf.setBackend('wasm');
  await tf.ready();
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  const models = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(models);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(models);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(models);
  return {
    tf,
    faceapi,
    ssd: await createSsdDetector(tf, faceapi.nets.ssdMobilenetv1),
    recognizer: createFaceRecognizer(tf, faceapi.nets.faceRecognitionNet),
    backend: { simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')), threads: wasm.getThreadsCount() },
  };
}
