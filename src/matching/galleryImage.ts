import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { quiet } from '../concurrency/quiet.ts';
import type { SubjectKeyStore } from '../crypto/subjectKeys.ts';
import { hasCode } from '../errors/appError.ts';
import { littleEndianHost } from '../faces/descriptor.ts';
import type { Logger } from '../logging/logger.ts';
import { DIMENSIONS, HEAD_DIMENSIONS } from './distance.ts';
import type { GallerySlice, Matcher } from './matcher.ts';
import { CODES_FINGERPRINT, type StoredRows } from './shard.ts';
import { openChunk, sealChunk, TAG_BYTES } from './imageChunks.ts';

/**
 * Port: a sealed copy of the matcher's galleries on this instance's disk, so that a start loads
 * them in one pass instead of opening every template of the read model (one AES-GCM value and one
 * wrapped key per template, ~16 µs of CPU each).
 *
 * The image is AES-256-GCM in large chunks under a key of its own, stored wrapped in the key
 * store; an erasure destroys every image key in the transaction that destroys the user's key
 * (SubjectKeyStore.destroy and createImageKey), so an image never outlives an erasure: what was written
 * before it can no longer be opened by anyone, and the next start loads the read model. An image
 * holds the galleries as of a position of the event stream; the feed replays the stream past it.
 */
export interface GalleryImage {
  /**
   * Adds the image's templates to an empty matcher. Answers where the image stood, or why it was
   * not used (none, its key destroyed, another layout, tampered...): then the matcher is empty
   * again, and a refused image is deleted (one that could not be read for another reason, the
   * disk's or the database's, stays for the next start).
   */
  restore(matcher: Matcher): Promise<ImageRestored | ImageRejected>;
  /** Writes a new image of the matcher, which has applied the stream through `position`, and replaces the last one. */
  write(matcher: Matcher, position: bigint): Promise<ImageWritten>;
  /** The position of the image this instance last wrote or restored, if its key still exists (no erasure since). */
  live(): Promise<bigint | undefined>;
}

export interface ImageRestored {
  readonly restored: true;
  readonly position: bigint;
  readonly templates: number;
  readonly bytes: number;
  readonly ms: number;
}

export interface ImageRejected {
  readonly restored: false;
  /** Why the read model is loaded instead; `none` when there was no image to restore. */
  readonly reason: 'none' | 'key destroyed' | 'layout' | 'integrity' | 'read failed' | 'ahead of the stream';
  readonly detail?: string;
}

export interface ImageWritten {
  readonly position: bigint;
  readonly templates: number;
  readonly bytes: number;
  readonly ms: number;
}

export interface GalleryImageOptions {
  /** The image's file; a new one is written next to it and renamed over it. */
  readonly file: string;
  readonly keys: SubjectKeyStore;
  /**
   * Templates per sealed chunk, default 4096 (~2.7 MiB): a chunk is read, opened and added at once,
   * and made between two turns of the event loop when written (1M templates: the loop's p99 delay
   * 11.8 ms during a write with 4096, 39 ms with 16384; restores took 3.2-3.3 s and 3.55-4.0 s).
   */
  readonly sliceRows?: number;
}

const MAGIC = Buffer.from('FSGIMG\0\0', 'latin1');
/** Bump with any change to the layout below: an image of another version is loaded from the read model instead. */
export const IMAGE_VERSION = 1;
const HEADER_BYTES = 64;
const SLICE = 1;
const END = 2;
const SLICE_HEADER = 16;

class ImageError extends Error {
  constructor(
    readonly reason: ImageRejected['reason'],
    message: string,
  ) {
    super(message);
  }
}

const lengthOf = (chunk: readonly Buffer[]) => chunk.reduce((sum, part) => sum + part.length, 0);

const bytesOf = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

/** A slice's columns after its 16-byte header, in this order (each a whole number of 4-byte words). */
function columnsOf(slice: GallerySlice): ArrayBufferView[] {
  const { stored } = slice;
  return [slice.descriptors, stored.head, stored.tail, stored.headBases, stored.fullBases, stored.residuals, stored.norms];
}

/**
 * A slice's plaintext: kind, mode, tenant length, rows, ids length; the descriptors (f32,
 * little-endian), then their codes and terms as the shards store them (StoredRows), a column
 * each; the tenant; `template,user` ids joined by commas.
 */
function sliceBytes(slice: GallerySlice): Buffer {
  const rows = slice.templateIds.length;
  const tenant = Buffer.from(slice.key.tenantId, 'utf8');
  const ids = Buffer.from(slice.templateIds.map((templateId, i) => `${templateId},${slice.userIds[i]}`).join(','), 'utf8');
  const parts = [...columnsOf(slice).map(bytesOf), tenant, ids];
  const out = Buffer.alloc(SLICE_HEADER + parts.reduce((sum, part) => sum + part.length, 0));
  out.writeUInt8(SLICE, 0);
  out.writeUInt8(slice.key.mode === 'live' ? 0 : 1, 1);
  out.writeUInt16LE(tenant.length, 2);
  out.writeUInt32LE(rows, 4);
  out.writeUInt32LE(ids.length, 8);
  let at = SLICE_HEADER;
  for (const part of parts) at += part.copy(out, at);
  return out;
}

function endBytes(slices: number, templates: number): Buffer {
  const out = Buffer.alloc(16);
  out.writeUInt8(END, 0);
  out.writeUInt32LE(slices, 4);
  out.writeBigUInt64LE(BigInt(templates), 8);
  return out;
}

function parseSlice(chunk: Buffer): GallerySlice {
  // Typed views need their element alignment (a small chunk may sit anywhere in Node's buffer pool).
  const plain = chunk.byteOffset % 4 === 0 ? chunk : Buffer.from(new Uint8Array(chunk));
  const rows = plain.readUInt32LE(4);
  const tenantBytes = plain.readUInt16LE(2);
  const idBytes = plain.readUInt32LE(8);
  let at = SLICE_HEADER;
  // The matcher copies the rows, so views will do.
  const column = <T>(Type: { new (buffer: ArrayBufferLike, offset: number, length: number): T; readonly BYTES_PER_ELEMENT: number }, length: number): T => {
    if (at + length * Type.BYTES_PER_ELEMENT > plain.length) throw new ImageError('layout', 'a slice is shorter than its header says');
    const view = new Type(plain.buffer, plain.byteOffset + at, length);
    at += length * Type.BYTES_PER_ELEMENT;
    return view;
  };
  const descriptors = column(Float32Array, rows * DIMENSIONS);
  const stored: StoredRows = {
    head: column(Int8Array, rows * HEAD_DIMENSIONS),
    tail: column(Int8Array, rows * (DIMENSIONS - HEAD_DIMENSIONS)),
    headBases: column(Int32Array, rows),
    fullBases: column(Int32Array, rows),
    residuals: column(Float32Array, rows),
    norms: column(Float32Array, rows),
  };
  if (plain.length !== at + tenantBytes + idBytes) throw new ImageError('layout', 'a slice is not the length its header says');
  const mode = plain.readUInt8(1) === 0 ? 'live' : 'test';
  const tenantId = plain.toString('utf8', at, at + tenantBytes);
  const ids = plain.toString('utf8', at + tenantBytes).split(',');
  if (ids.length !== rows * 2) throw new ImageError('layout', 'a slice holds another number of ids than rows');
  const templateIds: string[] = [];
  const userIds: string[] = [];
  for (let row = 0; row < rows; row++) {
    templateIds.push(ids[2 * row]!);
    userIds.push(ids[2 * row + 1]!);
  }
  return { key: { tenantId, mode }, templateIds, userIds, descriptors, stored };
}

/** The header: magic, layout version, the image's id, the stream position its galleries are at, the codes' fingerprint. */
function headerOf(imageId: Buffer, position: bigint): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(IMAGE_VERSION, 8);
  imageId.copy(header, 16);
  header.writeBigUInt64LE(position, 32);
  CODES_FINGERPRINT.copy(header, 48);
  return header;
}

const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The gallery image in one file (`file`), its key in the key store. */
export function createGalleryImageFile(options: GalleryImageOptions): GalleryImage {
  const { file, keys } = options;
  const sliceRows = options.sliceRows ?? 4096;
  // The image this instance wrote or restored last, whose key it drops once it is replaced.
  let current: { imageId: string; position: bigint } | undefined;
  let writing: Promise<unknown> = Promise.resolve();

  async function removeImage(): Promise<void> {
    await fs.rm(file, { force: true });
  }

  /** Reads exactly `length` bytes at `offset`, or fewer at the end of the file. */
  async function readAt(handle: fs.FileHandle, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? out : out.subarray(0, done);
  }

  async function restoreFrom(handle: fs.FileHandle, matcher: Matcher): Promise<ImageRestored> {
    const started = performance.now();
    const header = await readAt(handle, 0, HEADER_BYTES);
    if (header.length < HEADER_BYTES || !header.subarray(0, 8).equals(MAGIC)) throw new ImageError('layout', 'not a gallery image');
    const version = header.readUInt32LE(8);
    if (version !== IMAGE_VERSION || !littleEndianHost) throw new ImageError('layout', `image layout ${version}, this build reads ${IMAGE_VERSION} on little-endian hosts`);
    if (!header.subarray(48, 64).equals(CODES_FINGERPRINT)) throw new ImageError('layout', 'the image holds codes of another quantization than this build');
    const imageId = header.toString('hex', 16, 32);
    const position = header.readBigUInt64LE(32);
    const key = await keys.imageKey(imageId).catch((error: unknown) => {
      // A key that does not open (another master key) condemns the image; a database error does not.
      if (hasCode(error, 'INTERNAL_ERROR')) throw new ImageError('integrity', (error as Error).message);
      throw error;
    });
    if (!key) throw new ImageError('key destroyed', 'its key is gone: an erasure since it was written, or another database');
    const size = (await handle.stat()).size;
    // Reads the chunk at `at`: the next one is read while this thread opens and adds the last one.
    type ReadChunk = { index: number; end: number; sealed: Buffer };
    const readChunk = async (index: number, at: number): Promise<ReadChunk> => {
      const frame = await readAt(handle, at, 4);
      if (frame.length < 4) throw new ImageError('integrity', 'the image ends before its last chunk');
      const length = frame.readUInt32LE(0);
      // Checked before reading: a damaged length must not make this allocate gigabytes.
      if (length < TAG_BYTES || at + 4 + length > size) throw new ImageError('integrity', 'the image ends inside a chunk');
      const sealed = await readAt(handle, at + 4, length);
      if (sealed.length < length) throw new ImageError('integrity', 'the image ends inside a chunk');
      return { index, end: at + 4 + length, sealed };
    };
    let templates = 0;
    let next: Promise<ReadChunk> | undefined = quiet(readChunk(0, HEADER_BYTES));
    while (next) {
      const chunk: ReadChunk = await next;
      next = chunk.end < size ? quiet(readChunk(chunk.index + 1, chunk.end)) : undefined;
      const plain = openChunk(key, header, chunk.index, chunk.sealed);
      if (!plain) throw new ImageError('integrity', `chunk ${chunk.index} failed its integrity check`);
      if (plain.readUInt8(0) === END) {
        if (plain.readUInt32LE(4) !== chunk.index || plain.readBigUInt64LE(8) !== BigInt(templates)) throw new ImageError('integrity', 'the image holds other chunks than its end says');
        if (next) throw new ImageError('integrity', 'bytes follow the image end');
        current = { imageId, position };
        return { restored: true, position, templates, bytes: chunk.end, ms: Math.round(performance.now() - started) };
      }
      if (plain.readUInt8(0) !== SLICE) throw new ImageError('layout', 'a chunk of an unknown kind');
      const slice = parseSlice(plain);
      templates += slice.templateIds.length;
      matcher.addSlice(slice);
    }
    throw new ImageError('integrity', 'the image ends before its last chunk');
  }

  async function writeImage(matcher: Matcher, position: bigint): Promise<ImageWritten> {
    const started = performance.now();
    const id = randomBytes(16);
    const imageId = id.toString('hex');
    const header = headerOf(id, position);
    // The key first: an erasure from here on destroys it; one before is in `erased` and left out.
    const { key, erased } = await keys.createImageKey(imageId);
    const temporary = `${file}.${imageId}.tmp`;
    let handle: fs.FileHandle | undefined;
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      handle = await fs.open(temporary, 'wx', 0o600);
      await handle.write(header);
      let bytes = HEADER_BYTES;
      let index = 0;
      let templates = 0;
      for (const slice of matcher.slices(sliceRows, (userId) => !erased.has(userId))) {
        const chunk = sealChunk(key, header, index++, sliceBytes(slice));
        templates += slice.templateIds.length;
        await handle.writev(chunk);
        bytes += lengthOf(chunk);
        // Between slices requests are answered and events applied (what the stream changes meanwhile is replayed past `position`).
        await yieldToOthers();
      }
      const end = sealChunk(key, header, index, endBytes(index, templates));
      await handle.writev(end);
      bytes += lengthOf(end);
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fs.rename(temporary, file);
      const previous = current;
      current = { imageId, position };
      if (previous) await keys.dropImageKey(previous.imageId);
      return { position, templates, bytes, ms: Math.round(performance.now() - started) };
    } catch (error) {
      await handle?.close().catch(() => {});
      await fs.rm(temporary, { force: true });
      await keys.dropImageKey(imageId).catch(() => {});
      throw error;
    }
  }

  return {
    async restore(matcher) {
      // What a write cut short (a crash, a shutdown timeout) left behind.
      const directory = path.dirname(file);
      const prefix = `${path.basename(file)}.`;
      for (const name of await fs.readdir(directory).catch(() => [] as string[])) {
        if (name.startsWith(prefix) && name.endsWith('.tmp')) await fs.rm(path.join(directory, name), { force: true });
      }
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(file, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { restored: false, reason: 'none' };
        return { restored: false, reason: 'read failed', detail: (error as Error).message };
      }
      try {
        return await restoreFrom(handle, matcher);
      } catch (error) {
        matcher.clear();
        if (error instanceof ImageError) {
          await removeImage();
          return { restored: false, reason: error.reason, detail: error.message };
        }
        // Not the image's fault (the disk, the database): it stays for the next start.
        return { restored: false, reason: 'read failed', detail: error instanceof Error ? error.message : String(error) };
      } finally {
        await handle.close().catch(() => {});
      }
    },
    write(matcher, position) {
      // One write at a time: a later one waits for the one in progress.
      const next = writing.then(() => writeImage(matcher, position));
      writing = next.catch(() => {});
      return next;
    },
    async live() {
      const image = current;
      if (!image) return undefined;
      return (await keys.imageKey(image.imageId)) ? image.position : undefined;
    },
  };
}

export interface ImageKeeperOptions {
  readonly image: GalleryImage;
  readonly matcher: Matcher;
  /** The stream position the matcher has applied. */
  readonly position: () => bigint;
  /** How often to look whether the image is behind or was destroyed (and write a new one); 0: only when asked and at close. */
  readonly intervalMs: number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
}

/** Keeps the gallery image close to the matcher: a new one when the stream moved past it or an erasure destroyed it, at an interval and at close. */
export interface ImageKeeper {
  /** Writes a new image unless the live one is at the matcher's position; resolves when done (failures are logged, never thrown). */
  refresh(): Promise<void>;
  /** Stops the interval and writes a last image if the matcher moved past the live one. */
  close(): Promise<void>;
}

export function createImageKeeper(options: ImageKeeperOptions): ImageKeeper {
  const { image, matcher, position, intervalMs, logger } = options;
  let running: Promise<void> | undefined;
  let closed = false;

  async function refreshNow(): Promise<void> {
    const at = position();
    const live = await image.live();
    if (live !== undefined && live >= at) return;
    // Nothing to keep: an empty matcher loads as fast from the read model.
    if (live === undefined && matcher.size() === 0) return;
    const written = await image.write(matcher, at);
    logger.info({ templates: written.templates, bytes: written.bytes, ms: written.ms, position: written.position.toString() }, 'gallery image written');
  }

  function refresh(): Promise<void> {
    running ??= refreshNow()
      .catch((error: unknown) => logger.warn({ err: error }, 'writing the gallery image failed; the next start loads the read model'))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  const timer = intervalMs > 0 ? setInterval(() => void (closed || refresh()), intervalMs) : undefined;
  timer?.unref();

  return {
    refresh,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      await running;
      await refresh();
    },
  };
}
