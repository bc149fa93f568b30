// Detect: drop a photo, see each face's box, quality numbers and landmark summary drawn on it.
import { call } from './api.js';
import { h, show, errorBox, number, table } from './ui.js';

const maxBytes = 6 * 1024 * 1024;

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
    reader.readAsDataURL(file);
  });
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('the browser could not show this image'));
    image.src = url;
  });
}

/** Draws the photo and, for each face, its box and its numbers. */
function draw(canvas, image, faces) {
  const scale = Math.min(1, 900 / image.naturalWidth);
  canvas.width = Math.round(image.naturalWidth * scale);
  canvas.height = Math.round(image.naturalHeight * scale);
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  context.lineWidth = 3;
  context.font = '14px system-ui, sans-serif';
  faces.forEach((face, index) => {
    const { x, y, width, height } = face.boundingBox;
    const box = [x * scale, y * scale, width * scale, height * scale];
    context.strokeStyle = index === 0 ? '#22c55e' : '#f59e0b';
    context.strokeRect(...box);
    // A short label per face (the table below has every number), kept inside the canvas.
    const lines = [`#${index + 1} · confidence ${number(face.confidence, 2)}`, `quality ${number(face.quality.overallScore, 2)} · yaw ${number(face.quality.headPose.yaw, 0)}°`];
    const textWidth = Math.max(...lines.map((line) => context.measureText(line).width)) + 10;
    const left = Math.max(0, Math.min(box[0], canvas.width - textWidth));
    const top = box[1] + box[3] + 4 + lines.length * 18 > canvas.height ? Math.max(0, box[1] - lines.length * 18 - 8) : box[1] + box[3] + 4;
    context.fillStyle = 'rgba(15, 23, 42, 0.78)';
    context.fillRect(left, top, textWidth, lines.length * 18 + 4);
    context.fillStyle = '#fff';
    lines.forEach((line, row) => context.fillText(line, left + 5, top + 16 + row * 18));
  });
}

export async function detectPage() {
  const input = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', 'data-testid': 'detect-file' });
  const zone = h('label', { class: 'dropzone', 'data-testid': 'dropzone' }, h('strong', {}, 'Drop a photo here'), h('span', {}, 'or choose a JPEG, PNG or WebP file (up to 6 MB)'), input);
  const canvas = h('canvas', { 'data-testid': 'detect-canvas', hidden: true });
  const result = h('div', { 'data-testid': 'detect-result' });
  const run = async (file) => {
    result.replaceChildren(h('p', { class: 'loading' }, `Detecting faces in ${file.name}…`));
    try {
      if (file.size > maxBytes) throw new Error(`this file is ${(file.size / 1048576).toFixed(1)} MB; the API accepts images up to 6 MB`);
      const url = await readAsDataUrl(file);
      const [image, detection] = await Promise.all([loadImage(url), call('POST', '/v1/faces/detect', { image: url })]);
      const faces = detection.detected ? (detection.faces ?? [{ confidence: detection.confidence, quality: detection.quality, boundingBox: detection.boundingBox }]) : [];
      canvas.hidden = false;
      draw(canvas, image, faces);
      canvas.dataset.faces = String(faces.length);
      if (faces.length === 0) {
        result.replaceChildren(h('p', { class: 'error', 'data-testid': 'no-face' }, 'No face in this photo.'));
        return;
      }
      result.replaceChildren(
        h('p', { 'data-testid': 'faces-found' }, `${faces.length} face(s) found in ${image.naturalWidth}×${image.naturalHeight} px.`),
        table(
          [
            { label: 'Face', cell: (_face) => `#${faces.indexOf(_face) + 1}` },
            { label: 'Confidence', cell: (face) => number(face.confidence, 3) },
            { label: 'Box (x, y, w, h)', cell: (face) => `${face.boundingBox.x}, ${face.boundingBox.y}, ${face.boundingBox.width}, ${face.boundingBox.height}` },
            { label: 'Overall', cell: (face) => number(face.quality.overallScore, 3) },
            { label: 'Lighting', cell: (face) => number(face.quality.lightingScore, 3) },
            { label: 'Sharpness', cell: (face) => number(face.quality.sharpness, 3) },
            { label: 'Face size', cell: (face) => number(face.quality.faceSize, 3) },
            { label: 'Head pose (yaw, pitch, roll)', cell: (face) => `${number(face.quality.headPose.yaw, 1)}°, ${number(face.quality.headPose.pitch, 1)}°, ${number(face.quality.headPose.roll, 1)}°` },
            { label: 'Eye aspect ratio', cell: (face) => number(face.quality.eyeAspectRatio, 3) },
          ],
          faces,
          { testId: 'faces-table' },
        ),
        h('p', { class: 'small' }, 'Head pose and eye aspect ratio are computed from the 68 face landmarks.'),
      );
    } catch (error) {
      result.replaceChildren(errorBox(error));
    }
  };
  input.addEventListener('change', () => input.files?.[0] && run(input.files[0]));
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const file = event.dataTransfer?.files?.[0];
    if (file) void run(file);
  });
  show(h('h1', {}, 'Detect'), h('p', {}, 'The photo goes to POST /v1/faces/detect; nothing is stored.'), zone, result, canvas);
}
