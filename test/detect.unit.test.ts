import test from 'ava';
import { analyseFace } from '../workers/faceQuality.ts';
import { searchFaces, type FoundFace } from '../workers/faceSearch.ts';
import { clipRect, cropRegion, greyOf, mirrorIndex } from '../workers/imageRegion.ts';
import { decodeDetections } from '../workers/ssdMobilenetV1.ts';

const face = (x: number, width: number, score = 0.9): FoundFace => ({ score, box: { x, y: 10, width, height: width * 1.2 } });

/** A fake detector: what each pass finds, and the passes asked for. */
function passes(found: Record<string, FoundFace[]>) {
  const asked: string[] = [];
  return {
    asked,
    pass: async (size: 256 | 512, border: number) => {
      const key = `${size}${border > 0 ? '+border' : ''}`;
      asked.push(key);
      return found[key] ?? [];
    },
  };
}

test('a large face is taken from the 256 px pass alone', async (t) => {
  const { pass, asked } = passes({ '256': [face(100, 300)] });
  const result = await searchFaces(pass, 1000);
  t.deepEqual(asked, ['256']);
  t.deepEqual(result.faces, [face(100, 300)]);
  t.deepEqual(result.passes, ['256']);
});

test('nothing at 256 px: the bordered retry, and its faces are the answer', async (t) => {
  const { pass, asked } = passes({ '256+border': [face(0, 150)] });
  const result = await searchFaces(pass, 150);
  t.deepEqual(asked, ['256', '256+border']);
  t.deepEqual(result.faces, [face(0, 150)]);
});

test('a small face at 256 px (a group) brings the 512 px pass, whose faces replace the coarse ones', async (t) => {
  const fine = [face(100, 120), face(400, 110), face(700, 130)];
  const { pass, asked } = passes({ '256': [face(100, 400), face(400, 100)], '512': fine });
  const result = await searchFaces(pass, 1000);
  t.deepEqual(asked, ['256', '512']);
  t.deepEqual(result.faces, fine);
});

test('no face anywhere: every pass runs and the answer is empty', async (t) => {
  const { pass, asked } = passes({});
  const result = await searchFaces(pass, 800);
  t.deepEqual(asked, ['256', '256+border', '512']);
  t.deepEqual(result.faces, []);
});

test('a small face the 512 px pass does not confirm is still reported', async (t) => {
  const { pass } = passes({ '256': [face(10, 100, 0.6)] });
  t.deepEqual((await searchFaces(pass, 1000)).faces, [face(10, 100, 0.6)]);
});

test('mirrorIndex folds coordinates back into the image like a mirror at each edge', (t) => {
  t.deepEqual([-3, -2, -1, 0, 1, 4, 5, 6, 7].map((i) => mirrorIndex(i, 5)), [2, 1, 0, 0, 1, 4, 4, 3, 2]);
  t.is(mirrorIndex(-12, 5), 1);
});

test('cropRegion copies inside pixels and mirrors the part outside the frame', (t) => {
  // A 3 × 2 image whose red channel is the pixel's index.
  const image = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => (i % 3 === 0 ? i / 3 : 0)) };
  const inside = cropRegion(image, { x: 1, y: 0, width: 2, height: 2 });
  t.deepEqual([inside.width, inside.height], [2, 2]);
  t.deepEqual(Array.from({ length: 4 }, (_, i) => inside.data[i * 3]), [1, 2, 4, 5]);
  const outside = cropRegion(image, { x: -1, y: -1, width: 5, height: 3 });
  t.deepEqual([outside.width, outside.height], [5, 3]);
  t.deepEqual(Array.from({ length: 15 }, (_, i) => outside.data[i * 3]), [0, 0, 1, 2, 2, 0, 0, 1, 2, 2, 3, 3, 4, 5, 5]);
  // Fractional rectangles grow outwards to whole pixels.
  const grown = cropRegion(image, { x: 0.5, y: 0.5, width: 1, height: 1 });
  t.deepEqual([grown.width, grown.height], [2, 2]);
});

test('greyOf is the Rec. 601 luma; clipRect keeps the part inside the frame', (t) => {
  t.deepEqual(Array.from(greyOf({ width: 2, height: 1, data: Uint8Array.from([255, 0, 0, 10, 200, 30]) })), [76, 124]);
  t.deepEqual(clipRect({ x: -10, y: 5, width: 50, height: 100 }, 30, 60), { x: 0, y: 5, width: 30, height: 55 });
  t.deepEqual(clipRect({ x: 40, y: 5, width: 5, height: 5 }, 30, 60).width, 0);
});

test('decoding keeps boxes over the threshold and suppresses overlaps, best first', (t) => {
  // Two anchors on one spot and one elsewhere (centre y, centre x, height, width).
  const anchors = Float32Array.from([0.5, 0.5, 0.2, 0.2, 0.5, 0.52, 0.2, 0.2, 0.2, 0.2, 0.1, 0.1]);
  const encodings = new Float32Array(12);
  const found = decodeDetections(encodings, Float32Array.from([0.8, 0.9, 0.7]), anchors, 0.5);
  t.deepEqual(found.map((d) => d.score), [0.9, 0.7].map(Math.fround));
  t.true(Math.abs(found[0]!.left - 0.42) < 1e-6 && Math.abs(found[0]!.right - 0.62) < 1e-6);
  t.deepEqual(decodeDetections(encodings, Float32Array.from([0.4, 0.5, 0.3]), anchors, 0.5), []);
  // The coder: offsets in tenths of the anchor for the centre, log-size in fifths.
  const shifted = decodeDetections(Float32Array.from([10, 0, 5 * Math.log(2), 0]), Float32Array.from([0.9]), anchors.slice(0, 4), 0.5)[0]!;
  t.true(Math.abs((shifted.top + shifted.bottom) / 2 - 0.7) < 1e-6, 'centre moved by one anchor height');
  t.true(Math.abs(shifted.bottom - shifted.top - 0.4) < 1e-6, 'height doubled');
});

test('faceSize is the box area over the frame area; faceWidthPx the box width', (t) => {
  const grey = new Uint8Array(100 * 100).fill(128);
  const landmarks = Array.from({ length: 68 }, (_, i) => ({ x: 30 + (i % 10) * 4, y: 30 + Math.floor(i / 10) * 5 }));
  const { quality } = analyseFace({ grey, width: 100, height: 100, box: { x: 0, y: 0, width: 100, height: 100 }, landmarks, confidence: 0.9, faceWidthPixels: 200, faceAreaShare: (200 * 240) / (370 * 370) });
  t.is(quality.faceWidthPx, 200);
  t.is(quality.faceSize, 0.3506);
  t.is(analyseFace({ grey, width: 100, height: 100, box: { x: 0, y: 0, width: 100, height: 100 }, landmarks, confidence: 0.9, faceWidthPixels: 150, faceAreaShare: 1.2 }).quality.faceSize, 1);
});
