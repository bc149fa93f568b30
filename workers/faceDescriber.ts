// Landmarks and descriptor of one detected face, the way face-api computes them (and so the FaceSmash
// SDK): the 68-point net on the detection box, dlib alignment from the landmarks, the recognition net
// on the aligned square. Only the face's surroundings are uploaded to the backend, never the image,
// and a face cut by the frame is described on a region mirrored past the edges.
import type * as Tf from '@tensorflow/tfjs';
import type { FaceModels } from './faceModels.ts';
import { cropRegion, type Rect, type RgbImage } from './imageRegion.ts';

/** Context kept around the box: dlib's aligned square reaches about 0.3 box sides past it. */
const regionMargin = 0.6;

export interface FaceDescription {
  readonly descriptor: Float32Array;
  /** The 68 landmarks in the image's pixels. */
  readonly landmarks: { x: number; y: number }[];
  /** The region the face was described on (image pixels; may overflow the frame) and its pixels. */
  readonly region: RgbImage & { readonly x: number; readonly y: number };
}

export async function describeFace(models: FaceModels, image: RgbImage, box: Rect): Promise<FaceDescription> {
  const { tf, faceapi, recognizer } = models;
  const margin = regionMargin * Math.max(box.width, box.height);
  const region = cropRegion(image, { x: box.x - margin, y: box.y - margin, width: box.width + 2 * margin, height: box.height + 2 * margin });
  // cropRegion aligns the region outwards to whole pixels.
  const origin = { x: Math.floor(box.x - margin), y: Math.floor(box.y - margin) };
  const pixels = tf.tensor3d(region.data, [region.height, region.width, 3], 'int32');
  try {
    const local = new faceapi.Rect(box.x - origin.x, box.y - origin.y, box.width, box.height);
    const [crop] = await faceapi.extractFaceTensors(pixels as never, [local]);
    const found = (await faceapi.nets.faceLandmark68Net.detectLandmarks(crop!)) as InstanceType<FaceApi['FaceLandmarks68']>;
    crop!.dispose();
    // face-api shifts the crop's landmarks by the unrounded box, then aligns (dlib) on them.
    const landmarks = found.shiftBy(local.x, local.y);
    const aligned = landmarks.align(null, { useDlibAlignment: true });
    const [face] = await faceapi.extractFaceTensors(pixels as never, [aligned]);
    const netInput = await faceapi.toNetInput(face!);
    const batch = netInput.toBatchTensor(150, true) as unknown as Tf.Tensor4D;
    face!.dispose();
    try {
      const [descriptor] = await recognizer.describe(batch);
      return {
        descriptor: descriptor!,
        landmarks: landmarks.positions.map((p) => ({ x: p.x + origin.x, y: p.y + origin.y })),
        region: { ...region, x: origin.x, y: origin.y },
      };
    } finally {
      batch.dispose();
    }
  } finally {
    pixels.dispose();
  }
}

type FaceApi = FaceModels['faceapi'];
