// face-api's faceRecognitionNet (the ResNet-34-like net behind every FaceSmash descriptor), with each
// convolution's bias and scale layer folded into one fused kernel. Same weights, same input
// (150×150, mean RGB subtracted, /255), same 128 numbers to within float rounding.
import type * as Tf from '@tensorflow/tfjs';

// face-api declares its own copy of tfjs's types, so its tensors are typed here at the boundary.
type FaceApiNet = { getParamFromPath(path: string): unknown };
interface Conv {
  readonly filter: Tf.Tensor4D;
  readonly bias: Tf.Tensor1D;
}

const meanRgb = [122.782, 117.001, 104.298] as const;
const residualLayers = ['conv32_1', 'conv32_2', 'conv32_3', 'conv64_down', 'conv64_1', 'conv64_2', 'conv64_3', 'conv128_down', 'conv128_1', 'conv128_2', 'conv256_down', 'conv256_1', 'conv256_2', 'conv256_down_out'] as const;

export interface FaceRecognizer {
  /** Descriptors of a batch of aligned faces, [n, 150, 150, 3] float RGB 0-255. Disposes nothing it was given. */
  describe(faces: Tf.Tensor4D): Promise<Float32Array[]>;
}

export function createFaceRecognizer(tf: typeof Tf, net: FaceApiNet): FaceRecognizer {
  const param = (path: string) => net.getParamFromPath(path) as Tf.Tensor;
  const fold = (prefix: string): Conv =>
    tf.tidy(() => {
      const weights = param(`${prefix}/scale/weights`);
      return {
        filter: tf.mul(param(`${prefix}/conv/filters`), tf.reshape(weights, [1, 1, 1, -1])) as Tf.Tensor4D,
        bias: tf.add(tf.mul(param(`${prefix}/conv/bias`), weights), param(`${prefix}/scale/biases`)) as Tf.Tensor1D,
      };
    });
  const stem = fold('conv32_down');
  const layers = residualLayers.map((name) => ({ down: name.includes('down'), conv1: fold(`${name}/conv1`), conv2: fold(`${name}/conv2`) }));
  const fc = param('fc') as Tf.Tensor2D;
  const mean = tf.tensor1d([...meanRgb]);

  const conv = (x: Tf.Tensor4D, layer: Conv, stride: number, pad: 'same' | 'valid', relu: boolean) =>
    tf.fused.conv2d({ x, filter: layer.filter, strides: stride, pad, bias: layer.bias, ...(relu ? { activation: 'relu' as const } : {}) });

  function residual(x: Tf.Tensor4D, layer: (typeof layers)[number]): Tf.Tensor4D {
    let out = layer.down ? conv(x, layer.conv1, 2, 'valid', true) : conv(x, layer.conv1, 1, 'same', true);
    out = conv(out, layer.conv2, 1, 'same', false);
    if (!layer.down) return tf.relu(tf.add(out, x)) as Tf.Tensor4D;
    // The shortcut of a down block: 2×2 average pool, zero channels appended, and the conv path
    // grown by a zero row and column where the shapes differ (as dlib's network does).
    let pooled: Tf.Tensor4D = tf.avgPool(x, 2, 2, 'valid');
    if (pooled.shape[1] !== out.shape[1] || pooled.shape[2] !== out.shape[2]) {
      out = tf.concat([out, tf.zeros([out.shape[0], 1, out.shape[2], out.shape[3]])], 1) as Tf.Tensor4D;
      out = tf.concat([out, tf.zeros([out.shape[0], out.shape[1], 1, out.shape[3]])], 2) as Tf.Tensor4D;
    }
    if (pooled.shape[3] !== out.shape[3]) pooled = tf.concat([pooled, tf.zeros(pooled.shape)], 3) as Tf.Tensor4D;
    return tf.relu(tf.add(pooled, out)) as Tf.Tensor4D;
  }

  return {
    async describe(faces) {
      const output = tf.tidy(() => {
        let out = conv(tf.div(tf.sub(faces, mean), 255) as Tf.Tensor4D, stem, 2, 'valid', true);
        out = tf.maxPool(out, 3, 2, 'valid');
        for (const layer of layers) out = residual(out, layer);
        return tf.matMul(tf.mean(out, [1, 2]) as Tf.Tensor2D, fc);
      });
      try {
        const data = (await output.data()) as Float32Array;
        return Array.from({ length: faces.shape[0] }, (_, i) => data.slice(i * 128, (i + 1) * 128));
      } finally {
        output.dispose();
      }
    },
  };
}
