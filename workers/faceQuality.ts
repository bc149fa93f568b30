/** Quality of a detected face, each score 0-1 unless it says otherwise. Pure functions, tested on their own. */
export interface FaceQuality {
  readonly overallScore: number;
  readonly lightingScore: number;
  /** Variance of the Laplacian of the face crop, normalised: 1 − e^(−variance / 400). */
  readonly sharpness: number;
  /**
   * The face box's share of the frame, 0-1: box width × box height / (image width × image height),
   * the ratio the FaceSmash SDK's face-size check computes (it refuses under 0.02 and over 0.65).
   */
  readonly faceSize: number;
  /** Width of the face box in pixels of the original image. */
  readonly faceWidthPx: number;
  /** Degrees, estimated from the 68 landmarks: yaw (left/right), pitch (up/down), roll (tilt). */
  readonly headPose: { readonly yaw: number; readonly pitch: number; readonly roll: number };
  /** Mean eye aspect ratio of both eyes (about 0.25-0.35 open, under 0.2 closed). */
  readonly eyeAspectRatio: number;
}

interface Point {
  readonly x: number;
  readonly y: number;
}

export interface FaceInput {
  /** Greyscale pixels of the (possibly downscaled) image the landmarks refer to. */
  readonly grey: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly box: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
  readonly landmarks: readonly Point[];
  readonly confidence: number;
  readonly faceWidthPixels: number;
  /** Box area over image area, both in original pixels. */
  readonly faceAreaShare: number;
}

const round = (value: number, digits = 4) => Math.round(value * 10 ** digits) / 10 ** digits;
const clamp01 = (value: number) => Math.min(1, Math.max(0, value));
const degrees = (radians: number) => (radians * 180) / Math.PI;
const distance = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);
const mean = (points: readonly Point[]) => ({ x: points.reduce((s, p) => s + p.x, 0) / points.length, y: points.reduce((s, p) => s + p.y, 0) / points.length });

/** Variance of the 4-neighbour Laplacian over a rectangle of a greyscale image. */
export function laplacianVariance(grey: Uint8Array, width: number, height: number, box: FaceInput['box']): number {
  const x0 = Math.max(1, Math.floor(box.x));
  const y0 = Math.max(1, Math.floor(box.y));
  const x1 = Math.min(width - 1, Math.ceil(box.x + box.width));
  const y1 = Math.min(height - 1, Math.ceil(box.y + box.height));
  let sum = 0;
  let squares = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * width + x;
      const value = grey[i - 1]! + grey[i + 1]! + grey[i - width]! + grey[i + width]! - 4 * grey[i]!;
      sum += value;
      squares += value * value;
      n += 1;
    }
  }
  if (n === 0) return 0;
  const average = sum / n;
  return squares / n - average * average;
}

/** Brightness and contrast of the face crop, as a 0-1 lighting score (mid-grey, good contrast best). */
export function lightingOf(grey: Uint8Array, width: number, height: number, box: FaceInput['box']): { score: number; brightness: number; contrast: number } {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  let sum = 0;
  let squares = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const v = grey[y * width + x]!;
      sum += v;
      squares += v * v;
      n += 1;
    }
  }
  if (n === 0) return { score: 0, brightness: 0, contrast: 0 };
  const brightness = sum / n;
  const contrast = Math.sqrt(Math.max(0, squares / n - brightness * brightness));
  const exposure = 1 - Math.abs(brightness - 128) / 128;
  const spread = clamp01(contrast / 50);
  return { score: round(clamp01(0.7 * exposure + 0.3 * spread)), brightness: round(brightness, 1), contrast: round(contrast, 1) };
}

/** Eye aspect ratio of one eye (6 landmarks, Soukupová and Čech 2016). */
export function eyeAspectRatio(eye: readonly Point[]): number {
  const [p1, p2, p3, p4, p5, p6] = eye as [Point, Point, Point, Point, Point, Point];
  const horizontal = distance(p1, p4);
  return horizontal === 0 ? 0 : (distance(p2, p6) + distance(p3, p5)) / (2 * horizontal);
}

/**
 * Head pose from the 68-point landmarks (iBUG layout): roll is the tilt of the line between the
 * eyes; yaw compares the nose tip's offset from the eyes' midpoint with the eye distance; pitch
 * compares the nose tip's height between the eyes and the mouth with its neutral position.
 */
export function headPoseOf(landmarks: readonly Point[]): FaceQuality['headPose'] {
  const leftEye = mean(landmarks.slice(36, 42));
  const rightEye = mean(landmarks.slice(42, 48));
  const noseTip = landmarks[30]!;
  const mouth = mean(landmarks.slice(48, 68));
  const eyeDistance = distance(leftEye, rightEye) || 1;
  const roll = degrees(Math.atan2(rightEye.y - leftEye.y, rightEye.x - leftEye.x));
  const eyesMid = { x: (leftEye.x + rightEye.x) / 2, y: (leftEye.y + rightEye.y) / 2 };
  // Offsets measured along the eye line and across it, so roll does not leak into yaw and pitch.
  const ux = (rightEye.x - leftEye.x) / eyeDistance;
  const uy = (rightEye.y - leftEye.y) / eyeDistance;
  const along = ((noseTip.x - eyesMid.x) * ux + (noseTip.y - eyesMid.y) * uy) / eyeDistance;
  const eyesToMouth = (mouth.x - eyesMid.x) * -uy + (mouth.y - eyesMid.y) * ux || 1;
  const across = ((noseTip.x - eyesMid.x) * -uy + (noseTip.y - eyesMid.y) * ux) / eyesToMouth;
  const yaw = degrees(Math.asin(Math.max(-1, Math.min(1, along * 2))));
  // The nose tip sits about 0.6 of the way from the eyes to the mouth when the face is level.
  const pitch = degrees(Math.asin(Math.max(-1, Math.min(1, (across - 0.6) * 2.5))));
  return { yaw: round(yaw, 1), pitch: round(pitch, 1), roll: round(roll, 1) };
}

/** All quality measures of one face, the overall score that weighs them, and the crop's light. */
export function analyseFace(input: FaceInput): { quality: FaceQuality; lighting: { brightness: number; contrast: number } } {
  const variance = laplacianVariance(input.grey, input.width, input.height, input.box);
  const sharpness = round(1 - Math.exp(-variance / 400));
  const lighting = lightingOf(input.grey, input.width, input.height, input.box);
  const headPose = headPoseOf(input.landmarks);
  const ear = round((eyeAspectRatio(input.landmarks.slice(36, 42)) + eyeAspectRatio(input.landmarks.slice(42, 48))) / 2);
  const sizeScore = clamp01((input.faceWidthPixels - 40) / 160);
  const poseScore = clamp01(1 - (Math.abs(headPose.yaw) + Math.abs(headPose.pitch) + Math.abs(headPose.roll) / 2) / 60);
  const eyesScore = clamp01(ear / 0.25);
  const overallScore = round(clamp01(0.25 * input.confidence + 0.2 * sharpness + 0.2 * lighting.score + 0.15 * sizeScore + 0.1 * poseScore + 0.1 * eyesScore));
  return {
    quality: { overallScore, lightingScore: lighting.score, sharpness, faceSize: round(clamp01(input.faceAreaShare)), faceWidthPx: input.faceWidthPixels, headPose, eyeAspectRatio: ear },
    lighting: { brightness: lighting.brightness, contrast: lighting.contrast },
  };
}
