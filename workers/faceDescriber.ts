// Landmarks and descriptor of one detected face, the way face-api computes them (and so the FaceSmash
// SDK): the 68-point net on the detection box, dlib alignment from the landmarks, the recognition net
// on the aligned square. Only the two crops are uploaded to the backend, never the image, and a crop
// reaching past the frame is filled with the image mirrored at its edges rather than cut.
import type * as Tf from '@tensorflow/tfjs';
import type { FaceModels } from './faceModels.ts';
import { cropRegion, type Rect, type RgbImage } from './imageRegion.ts';

export interface FaceDescription {
  readonly descriptor: Float32Array;
  /** The 68 landmarks in the image's pixels. */
  readonly landmarks: { x: number; y: number }[];
}

type FaceApi = FaceModels['faceapi'];
type Landmarks = InstanceType<FaceApi['FaceLandmarks68']>;

export async function describeFace(models: FaceModels, image: RgbImage, box: Rect): Promise<FaceDescription> {
  const { tf, faceapi, recognizer } = models;
  // face-api crops the box floored (x, y, width and height each), runs the landmark net on it and
  // shifts its landmarks by the unrounded box.
  const origin = { x: Math.floor(box.x), y: Math.floor(box.y) };
  const crop = cropRegion(image, { ...origin, width: Math.max(1, Math.floor(box.width)), height: Math.max(1, Math.floor(box.height)) });
  const cropTensor = tf.tensor3d(crop.data, [crop.height, crop.width, 3], 'int32');
  let found: Landmarks;
  try {
    found = (await faceapi.nets.faceLandmark68Net.detectLandmarks(cropTensor as never)) as Landmarks;
  } finally {
    cropTensor.dispose();
  }
  const landmarks = found.shiftBy<Landmarks>(box.x, box.y);
  // face-api's dlib alignment clamps the square at x, y >= 0, which pushes a face cut by the left or
  // top edge off centre; aligning in a frame shifted far away keeps it centred (mirrored instead).
  const far = image.width + image.height;
  const shifted = found.shiftBy<Landmarks>(box.x + far, box.y + far).align(null, { useDlibAlignment: true });
  const aligned = { x: shifted.x - far, y: shifted.y - far, width: Math.max(1, shifted.width), height: Math.max(1, shifted.height) };
  const face = cropRegion(image, aligned);
  const faceTensor = tf.tensor3d(face.data, [face.height, face.width, 3], 'int32');
  let batch: Tf.Tensor4D | undefined;
  try {
    batch = (await faceapi.toNetInput(faceTensor as never)).toBatchTensor(150, true) as unknown as Tf.Tensor4D;
    const [descriptor] = await recognizer.describe(batch);
    return { descriptor: descriptor!, landmarks: landmarks.positions.map((p) => ({ x: p.x, y: p.y })) };
  } finally {
    faceTensor.dispose();
    batch?.dispose();
  }
}
