import { AppError } from '../errors/appError.ts';

const dataUrl = /^data:(image\/[a-z0-9.+-]+)?(;[a-z0-9=-]+)*;base64,/i;
const base64Shape = /^[A-Za-z0-9+/]*={0,2}$/;

/** The image format its first bytes say, if it is one we accept. */
export function sniffImage(bytes: Uint8Array): 'jpeg' | 'png' | 'webp' | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 12 && Buffer.from(bytes.subarray(0, 4)).toString('latin1') === 'RIFF' && Buffer.from(bytes.subarray(8, 12)).toString('latin1') === 'WEBP') return 'webp';
  return undefined;
}

/**
 * Decodes the `image` field: a data URL or plain base64 of a JPEG, PNG or WebP. Malformed base64
 * and empty images are VALIDATION_ERROR; other formats UNSUPPORTED_MEDIA_TYPE.
 */
export function decodeImageField(image: string): Uint8Array {
  const match = dataUrl.exec(image);
  const declared = match?.[1]?.toLowerCase();
  const payload = (match ? image.slice(match[0].length) : image).replace(/\s+/g, '');
  if (payload.length === 0) throw new AppError('VALIDATION_ERROR', 'image: the image is empty', { field: 'image' });
  if (payload.length % 4 === 1 || !base64Shape.test(payload)) throw new AppError('VALIDATION_ERROR', 'image: must be a data URL or base64', { field: 'image' });
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length === 0) throw new AppError('VALIDATION_ERROR', 'image: the image is empty', { field: 'image' });
  const format = sniffImage(bytes);
  if (!format) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'image: send a JPEG, PNG or WebP image', { field: 'image', ...(declared ? { declared } : {}) });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
