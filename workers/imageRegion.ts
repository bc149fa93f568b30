/** Pixel regions of a decoded RGB image. Pure functions over plain buffers. */

export interface RgbImage {
  /** Interleaved RGB, 3 bytes a pixel, row by row. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Index of a coordinate folded back into [0, size) by mirroring at the edges (…2 1 0 | 0 1 2… ). */
export function mirrorIndex(i: number, size: number): number {
  const period = 2 * size;
  const m = ((i % period) + period) % period;
  return m < size ? m : period - 1 - m;
}

/**
 * The pixels of `rect` (integer-aligned outwards), including any part outside the image, which is
 * filled with the image mirrored at its edges: a face cut by the frame keeps plausible surroundings
 * for the landmark and recognition nets instead of a black band.
 */
export function cropRegion(image: RgbImage, rect: Rect): RgbImage {
  const x0 = Math.floor(rect.x);
  const y0 = Math.floor(rect.y);
  const width = Math.max(1, Math.ceil(rect.x + rect.width) - x0);
  const height = Math.max(1, Math.ceil(rect.y + rect.height) - y0);
  const data = new Uint8Array(width * height * 3);
  const inside = x0 >= 0 && x0 + width <= image.width;
  for (let row = 0; row < height; row++) {
    const sy = mirrorIndex(y0 + row, image.height);
    const source = sy * image.width * 3;
    if (inside) {
      data.set(image.data.subarray(source + x0 * 3, source + (x0 + width) * 3), row * width * 3);
      continue;
    }
    for (let col = 0; col < width; col++) {
      const s = source + mirrorIndex(x0 + col, image.width) * 3;
      const d = (row * width + col) * 3;
      data[d] = image.data[s]!;
      data[d + 1] = image.data[s + 1]!;
      data[d + 2] = image.data[s + 2]!;
    }
  }
  return { data, width, height };
}

/** Grey levels (Rec. 601 luma of the encoded values, 0-255) of an RGB image. */
export function greyOf(image: RgbImage): Uint8Array {
  const grey = new Uint8Array(image.width * image.height);
  for (let i = 0, s = 0; i < grey.length; i++, s += 3) {
    grey[i] = Math.round(0.299 * image.data[s]! + 0.587 * image.data[s + 1]! + 0.114 * image.data[s + 2]!);
  }
  return grey;
}

/** `rect` clipped to a width × height frame (empty when it lies outside). */
export function clipRect(rect: Rect, width: number, height: number): Rect {
  const x = Math.max(0, rect.x);
  const y = Math.max(0, rect.y);
  return { x, y, width: Math.max(0, Math.min(width, rect.x + rect.width) - x), height: Math.max(0, Math.min(height, rect.y + rect.height) - y) };
}
