import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { loadFaceModels, type FaceModels } from '../workers/faceModels.ts';
import { anchorShapes, anchorsFor } from '../workers/ssdMobilenetV1.ts';

// Our fused runners of face-api's nets against face-api's own code on the same input: the
// detector must find what face-api finds, and descriptors must be the FaceSmash SDK's.
const require = createRequire(import.meta.url);
const samples = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
let models: FaceModels;

test.before(async () => {
  models = await loadFaceModels();
});

test('at 512 px the anchors are exactly the ones face-api ships with the model', async (t) => {
  const net = models.faceapi.nets.ssdMobilenetv1;
  const trained = ((await (net.getParamFromPath('output_layer/extra_dim') as unknown as { array(): Promise<number[][][]> }).array())[0])!;
  const anchors = anchorsFor(512, [32, 16, 8, 4, 2, 1], anchorShapes(trained));
  t.is(anchors.length, trained.length * 4);
  let worst = 0;
  trained.forEach(([top, left, bottom, right], k) => {
    const expected = [(top! + bottom!) / 2, (left! + right!) / 2, bottom! - top!, right! - left!];
    for (let i = 0; i < 4; i++) worst = Math.max(worst, Math.abs(anchors[4 * k + i]! - expected[i]!));
  });
  t.true(worst < 1e-5, `largest difference ${worst}`);
});

test('at 256 px the anchors keep their size in network pixels', (t) => {
  const shapes = [[[51.2, 51.2]], [[179.2, 179.2]], [[256, 256]], [[332.8, 332.8]], [[409.6, 409.6]], [[486.4, 486.4]]];
  const anchors = anchorsFor(256, [16, 8, 4, 2, 1, 1], shapes.map((layer, i) => (i === 0 ? layer : Array(6).fill(layer[0]))));
  // First anchor of the first layer: centre of cell (0, 0) at stride 16 px, 51.2 px wide, over 256 px.
  t.deepEqual(Array.from(anchors.slice(0, 4)).map((v) => Math.round(v * 1e4) / 1e4), [8 / 256, 8 / 256, 0.2, 0.2].map((v) => Math.round(v * 1e4) / 1e4));
});

test('the fused detector at 512 px finds the same faces, scores and boxes as face-api', async (t) => {
  const { tf, faceapi, ssd } = models;
  for (const name of ['sample1.jpg', 'sample3.jpg']) {
    const { data } = await sharp(await fs.readFile(path.join(samples, name)))
      .resize(512, 512, { fit: 'contain', position: 'left top', background: { r: 0, g: 0, b: 0 } })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length);
    const image = tf.tensor3d(pixels, [512, 512, 3], 'int32');
    const expected = await faceapi.nets.ssdMobilenetv1.locateFaces(image as never, { minConfidence: 0.5 });
    image.dispose();
    const found = await ssd.locate(pixels, 512, 0.5);
    t.is(found.length, expected.length, name);
    t.true(found.length >= 3, name);
    for (const [i, face] of found.entries()) {
      const reference = expected[i]!;
      t.true(Math.abs(face.score - reference.score) < 1e-3, `${name} score ${face.score} vs ${reference.score}`);
      const box = [face.left * 512, face.top * 512, (face.right - face.left) * 512, (face.bottom - face.top) * 512];
      const referenceBox = [reference.box.x, reference.box.y, reference.box.width, reference.box.height];
      box.forEach((v, k) => t.true(Math.abs(v - referenceBox[k]!) < 0.5, `${name} box ${box} vs ${referenceBox}`));
    }
  }
});

test('the fused recognition net gives face-api’s descriptor', async (t) => {
  const { tf, faceapi, recognizer } = models;
  const { data } = await sharp(await fs.readFile(path.join(samples, 'sample2.jpg'))).extract({ left: 1440, top: 150, width: 200, height: 200 }).resize(150, 150).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const face = tf.tensor3d(new Uint8Array(data.buffer, data.byteOffset, data.length), [150, 150, 3], 'int32');
  const expected = (await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(face as never)) as Float32Array;
  const batch = tf.cast(tf.expandDims(face), 'float32');
  const [descriptor] = await recognizer.describe(batch as never);
  face.dispose();
  batch.dispose();
  t.is(descriptor!.length, 128);
  const worst = Math.max(...Array.from(expected, (v, i) => Math.abs(v - descriptor![i]!)));
  t.true(worst < 1e-5, `largest difference ${worst}`);
});
