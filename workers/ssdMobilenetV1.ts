// SSD MobileNet v1 (face-api's face detector, its own weights) run at any input size.
//
// face-api always resizes to 512×512. The network is fully convolutional, so it runs at other
// sizes too, provided the anchors keep their size in network pixels: a face that is 100 px in the
// network's input excites the same layer and anchor at any input size. At 256 px the same weights
// find faces from about a tenth to twice the frame (tight crops, ID photos) at a quarter of the cost.
// Batch norm is folded into the convolutions so each layer is one fused kernel (conv + bias + relu6).
import type * as Tf from '@tensorflow/tfjs';

// face-api declares its own copy of tfjs's types, so its tensors are typed here at the boundary.
type FaceApiNet = { getParamFromPath(path: string): unknown };

/** A detection in the network input's normalised coordinates (0-1 spans the input square; may overflow). */
export interface RawDetection {
  readonly score: number;
  readonly top: number;
  readonly left: number;
  readonly bottom: number;
  readonly right: number;
}

/** Input sizes the anchor layout is exact for: every feature map halves evenly down to 1×1. */
export const ssdInputSizes = [256, 512] as const;
export type SsdInputSize = (typeof ssdInputSizes)[number];

const trainedSize = 512;
/** Feature map sides of the six prediction layers at the trained size, and anchors per cell. */
const trainedGrids = [32, 16, 8, 4, 2, 1] as const;
const anchorsPerCell = [3, 6, 6, 6, 6, 6] as const;
const batchNormEpsilon = 0.0010000000474974513;
const iouThreshold = 0.5;
const maxResults = 100;

/** Per layer, the (height, width) of each anchor of a cell in trained-size pixels, read from the model. */
export function anchorShapes(trainedAnchors: readonly (readonly number[])[]): number[][][] {
  const shapes: number[][][] = [];
  let offset = 0;
  trainedGrids.forEach((grid, layer) => {
    const count = anchorsPerCell[layer]!;
    shapes.push(trainedAnchors.slice(offset, offset + count).map(([top, left, bottom, right]) => [(bottom! - top!) * trainedSize, (right! - left!) * trainedSize]));
    offset += grid * grid * count;
  });
  return shapes;
}

/**
 * Anchors (centre y, centre x, height, width; normalised to `size`) for the feature maps of an
 * input of `size` px: the trained anchors' centres and sizes kept in pixels.
 */
export function anchorsFor(size: number, grids: readonly number[], shapes: readonly (readonly (readonly number[])[])[]): Float32Array {
  const total = grids.reduce((sum, grid, layer) => sum + grid * grid * anchorsPerCell[layer]!, 0);
  const anchors = new Float32Array(total * 4);
  let k = 0;
  grids.forEach((grid, layer) => {
    const stride = trainedSize / trainedGrids[layer]!;
    for (let i = 0; i < grid; i++) {
      for (let j = 0; j < grid; j++) {
        for (const [height, width] of shapes[layer]!) {
          anchors[k++] = ((i + 0.5) * stride) / size;
          anchors[k++] = ((j + 0.5) * stride) / size;
          anchors[k++] = height! / size;
          anchors[k++] = width! / size;
        }
      }
    }
  });
  return anchors;
}

function iou(a: RawDetection, b: RawDetection): number {
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  if (h <= 0 || w <= 0) return 0;
  const intersection = h * w;
  const union = (a.bottom - a.top) * (a.right - a.left) + (b.bottom - b.top) * (b.right - b.left) - intersection;
  return union <= 0 ? 0 : intersection / union;
}

/**
 * Decodes box encodings against anchors (TF object detection's centre-size coder, scales 10/10/5/5)
 * for scores above `minConfidence`, then greedy non-maximum suppression at IoU 0.5, as face-api does.
 */
export function decodeDetections(encodings: Float32Array, scores: Float32Array, anchors: Float32Array, minConfidence: number): RawDetection[] {
  const candidates: RawDetection[] = [];
  for (let k = 0; k < scores.length; k++) {
    const score = scores[k]!;
    if (score <= minConfidence) continue;
    const [cy, cx, ha, wa] = [anchors[4 * k]!, anchors[4 * k + 1]!, anchors[4 * k + 2]!, anchors[4 * k + 3]!];
    const y = (encodings[4 * k]! / 10) * ha + cy;
    const x = (encodings[4 * k + 1]! / 10) * wa + cx;
    const h = Math.exp(encodings[4 * k + 2]! / 5) * ha;
    const w = Math.exp(encodings[4 * k + 3]! / 5) * wa;
    candidates.push({ score, top: y - h / 2, left: x - w / 2, bottom: y + h / 2, right: x + w / 2 });
  }
  candidates.sort((a, b) => b.score - a.score);
  const kept: RawDetection[] = [];
  for (const candidate of candidates) {
    if (kept.length >= maxResults) break;
    if (kept.every((other) => iou(other, candidate) <= iouThreshold)) kept.push(candidate);
  }
  return kept;
}

export interface SsdDetector {
  /** Faces in `pixels` (size × size × 3 RGB, 0-255), best first. */
  locate(pixels: Uint8Array, size: SsdInputSize, minConfidence: number): Promise<RawDetection[]>;
}

/** Builds the detector from face-api's loaded `ssdMobilenetv1` net (weights are read, not copied by face-api). */
export async function createSsdDetector(tf: typeof Tf, net: FaceApiNet): Promise<SsdDetector> {
  const param = (path: string) => net.getParamFromPath(path) as Tf.Tensor;
  const pointwise = (prefix: string) => ({ filter: param(`${prefix}/filters`) as Tf.Tensor4D, bias: param(`${prefix}/batch_norm_offset`) as Tf.Tensor1D });
  const depthwise = tf.tidy(() =>
    Array.from({ length: 13 }, (_, index) => {
      const prefix = `mobilenetv1/conv_${index + 1}/depthwise_conv`;
      const k = tf.div(param(`${prefix}/batch_norm_scale`), tf.sqrt(tf.add(param(`${prefix}/batch_norm_variance`), batchNormEpsilon)));
      return {
        filter: tf.mul(param(`${prefix}/filters`), tf.reshape(k, [1, 1, -1, 1])) as Tf.Tensor4D,
        bias: tf.sub(param(`${prefix}/batch_norm_offset`), tf.mul(param(`${prefix}/batch_norm_mean`), k)) as Tf.Tensor1D,
      };
    }),
  );
  const stem = pointwise('mobilenetv1/conv_0');
  const blocks = depthwise.map((dw, index) => ({ dw, pw: pointwise(`mobilenetv1/conv_${index + 1}/pointwise_conv`), stride: [2, 4, 6, 12].includes(index + 1) ? 2 : 1 }));
  const extras = Array.from({ length: 8 }, (_, index) => ({ ...pointwise(`prediction_layer/conv_${index}`), stride: index % 2 === 1 ? 2 : 1 }));
  const heads = Array.from({ length: 6 }, (_, index) => {
    const prefix = `prediction_layer/box_predictor_${index}`;
    return {
      box: { filter: param(`${prefix}/box_encoding_predictor/filters`) as Tf.Tensor4D, bias: param(`${prefix}/box_encoding_predictor/bias`) as Tf.Tensor1D },
      cls: { filter: param(`${prefix}/class_predictor/filters`) as Tf.Tensor4D, bias: param(`${prefix}/class_predictor/bias`) as Tf.Tensor1D },
    };
  });
  const shapes = anchorShapes(((await param('output_layer/extra_dim').array()) as number[][][])[0]!);
  const anchorCache = new Map<string, Float32Array>();

  const relu6 = (x: Tf.Tensor4D, layer: { filter: Tf.Tensor4D; bias: Tf.Tensor1D }, stride: number) =>
    tf.fused.conv2d({ x, filter: layer.filter, strides: stride, pad: 'same', bias: layer.bias, activation: 'relu6' });
  const linear = (x: Tf.Tensor4D, layer: { filter: Tf.Tensor4D; bias: Tf.Tensor1D }) => tf.fused.conv2d({ x, filter: layer.filter, strides: 1, pad: 'same', bias: layer.bias });

  function forward(pixels: Uint8Array, size: number) {
    return tf.tidy(() => {
      const input = tf.sub(tf.mul(tf.tensor4d(pixels, [1, size, size, 3], 'float32'), 2 / 255), 1) as Tf.Tensor4D;
      let out = relu6(input, stem, 2);
      let conv11 = out;
      blocks.forEach((block, index) => {
        out = tf.fused.depthwiseConv2d({ x: out, filter: block.dw.filter, strides: block.stride, pad: 'same', bias: block.dw.bias, activation: 'relu6' });
        out = relu6(out, block.pw, 1);
        if (index + 1 === 11) conv11 = out;
      });
      const features: Tf.Tensor4D[] = [conv11, out];
      let x = out;
      extras.forEach((layer, index) => {
        x = relu6(x, layer, layer.stride);
        if (index % 2 === 1) features.push(x);
      });
      const boxes = features.map((feature, index) => tf.reshape(linear(feature, heads[index]!.box), [-1, 4]));
      const classes = features.map((feature, index) => tf.reshape(linear(feature, heads[index]!.cls), [-1, 3]));
      const scores = tf.reshape(tf.sigmoid(tf.slice(tf.concat(classes, 0), [0, 1], [-1, 1])), [-1]);
      return { encodings: tf.concat(boxes, 0), scores, grids: features.map((feature) => feature.shape[1]!) };
    });
  }

  return {
    async locate(pixels, size, minConfidence) {
      const { encodings, scores, grids } = forward(pixels, size);
      try {
        const [e, s] = (await Promise.all([encodings.data(), scores.data()])) as [Float32Array, Float32Array];
        const key = `${size}:${grids.join(',')}`;
        let anchors = anchorCache.get(key);
        if (!anchors) anchorCache.set(key, (anchors = anchorsFor(size, grids, shapes)));
        return decodeDetections(e, s, anchors, minConfidence);
      } finally {
        encodings.dispose();
        scores.dispose();
      }
    },
  };
}
