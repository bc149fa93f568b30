// The ids a gallery keeps for its rows, in typed arrays rather than as strings in Maps: id strings,
// Map entries and per-user lists cost a million templates a few hundred MiB of heap and millions
// of small objects that every full garbage collection walks; here they are 55-90 MiB of arrays
// (see the README's Matcher section and bench:identify, bench:load).

/**
 * A set of ids with stable integer handles and per-handle integer columns for the caller's own
 * data. An id of 128 bits in lowercase hex, as this service makes them (the contract's
 * `tpl_<32 hex>`, `usr_<32 hex>`: a prefix of 1-8 letters, then `_`) or as a UUID's text
 * (8-4-4-4-12), is kept as four 32-bit words and a byte naming its form and prefix; any other id
 * as its string. Lookups go through an open-addressing table of handles (linear probing, kept
 * at most half full). A removed id's handle is reused; its generation tells a holder of the old
 * handle that it is gone.
 */
export interface IdArena {
  readonly size: number;
  /** The handle of `id`, or -1. */
  find(id: string): number;
  /** Adds an id that is not there (check with `find`) and returns its handle; its columns are 0. */
  insert(id: string): number;
  /** The handle of `id`, added (columns 0) when it is not there: `find` and `insert` reading the id once. `size` tells which happened. */
  intern(id: string): number;
  /** Removes a live handle's id; the handle may be handed out again, with the next generation. */
  remove(handle: number): void;
  /** The id of a live handle, as it was given. */
  text(handle: number): string;
  /** Changes each time the handle's id is removed. */
  generation(handle: number): number;
  get(column: number, handle: number): number;
  set(column: number, handle: number, value: number): void;
  /** Bytes of its typed arrays (the strings of ids kept as text are not counted). */
  bytes(): number;
}

/** `next` (a longer array) holding `old`'s values first: how the arenas and the shards' id columns grow. */
export function grownInto<T extends Uint32Array | Uint8Array | Int32Array>(old: T, next: T): T {
  next.set(old);
  return next;
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;
const BYTE_HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
const DASH = 45;

/** Writes the 128 bits of a canonical UUID text at `out[at..at+3]`; false (nothing usable written) for any other text. */
export function uuidWords(id: string, out: Uint32Array, at: number): boolean {
  if (id.length !== 36 || id.charCodeAt(8) !== DASH || id.charCodeAt(13) !== DASH || id.charCodeAt(18) !== DASH || id.charCodeAt(23) !== DASH) return false;
  return hexWords(id, 0, true, out, at);
}

/**
 * Reads 32 lowercase hex digits of `id` from `start` (past a UUID's dashes when `dashed`) into
 * `out[at..at+3]`; false when one is not.
 */
function hexWords(id: string, start: number, dashed: boolean, out: Uint32Array, at: number): boolean {
  let word = 0;
  let nibbles = 0;
  let w = at;
  for (let i = start; i < start + (dashed ? 36 : 32); i++) {
    if (dashed && (i === 8 || i === 13 || i === 18 || i === 23)) continue;
    const code = id.charCodeAt(i);
    const value = code < 128 ? HEX[code]! : -1;
    if (value < 0) return false;
    word = (word << 4) | value;
    if (++nibbles === 8) {
      out[w++] = word;
      word = 0;
      nibbles = 0;
    }
  }
  return true;
}

const hex = (word: number, shift: number) => BYTE_HEX[(word >>> shift) & 255]!;
const hexOf = (word: number) => `${hex(word, 24)}${hex(word, 16)}${hex(word, 8)}${hex(word, 0)}`;

/** The canonical text of the UUID at `words[at..at+3]`. */
export function uuidText(words: Uint32Array, at: number): string {
  const [a, b, c, d] = [words[at]!, words[at + 1]!, words[at + 2]!, words[at + 3]!];
  return `${hexOf(a)}-${hex(b, 24)}${hex(b, 16)}-${hex(b, 8)}${hex(b, 0)}-${hex(c, 24)}${hex(c, 16)}-${hex(c, 8)}${hex(c, 0)}${hexOf(d)}`;
}

const UNDERSCORE = 95;
const MAX_PREFIX = 8;
const isLetter = (code: number) => code >= 97 && code <= 122;

/** Where `<prefix>_<32 hex>`'s underscore is (1..8), or -1 when `id` does not have that shape up to its digits. */
function prefixEnd(id: string): number {
  const end = id.length - 33;
  if (end < 1 || end > MAX_PREFIX || id.charCodeAt(end) !== UNDERSCORE) return -1;
  for (let i = 0; i < end; i++) if (!isLetter(id.charCodeAt(i))) return -1;
  return end;
}

// MurmurHash3's mixing steps, seeded per arena so that no fixed set of ids collides everywhere.
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const TEXT = 0;
const UUID = 1;
const PREFIXED = 2;
const FIRST_HANDLES = 1024;
const FIRST_SLOTS = 2048;

export function createIdArena(columns: number): IdArena {
  const seed = (Math.random() * 2 ** 32) | 0;
  let capacity = FIRST_HANDLES;
  let words = new Uint32Array(capacity * 4);
  // Per handle: TEXT (the id is in `texts`, its words unused), UUID, or PREFIXED + the index of
  // its prefix in `prefixes` (the id is that prefix, `_` and the words in hex).
  let forms = new Uint8Array(capacity);
  const prefixes: string[] = [];
  const prefixCodes = new Map<string, number>();
  let lastPrefix = '';
  let lastCode = 0;
  const texts = new Map<number, string>();
  let generations = new Int32Array(capacity);
  let data = new Int32Array(capacity * columns);
  // Handles never handed out start at `fresh`; removed ones wait in `free`.
  let fresh = 0;
  const free: number[] = [];
  let slots = new Int32Array(FIRST_SLOTS).fill(-1);
  let mask = FIRST_SLOTS - 1;
  let size = 0;
  const key = new Uint32Array(4);

  const hashWords = (w: Uint32Array, at: number, form: number) => finish(mix(mix(mix(mix(mix(seed, form), w[at]!), w[at + 1]!), w[at + 2]!), w[at + 3]!) ^ 20);
  function hashText(text: string): number {
    let h = seed ^ 0x5bd1e995;
    for (let i = 0; i < text.length; i++) h = mix(h, text.charCodeAt(i));
    return finish(h ^ text.length);
  }
  const hashOf = (handle: number) => (forms[handle] === TEXT ? hashText(texts.get(handle)!) : hashWords(words, handle * 4, forms[handle]!));

  /**
   * The form of `id` with its words written at `out[at..]`, or TEXT. A prefix not seen before is
   * added when `adding`, while there is room for it; an id whose prefix found no room is TEXT
   * (prefixes are never taken back, so a prefix not here is of no id but TEXT ones).
   */
  function formOf(id: string, out: Uint32Array, at: number, adding: boolean): number {
    if (uuidWords(id, out, at)) return UUID;
    const end = prefixEnd(id);
    if (end < 0 || !hexWords(id, end + 1, false, out, at)) return TEXT;
    // An arena's ids nearly all have one prefix: the last one found is tried first, unsliced.
    if (end === lastPrefix.length && id.startsWith(lastPrefix)) return PREFIXED + lastCode;
    const prefix = id.slice(0, end);
    let code = prefixCodes.get(prefix);
    if (code === undefined) {
      if (!adding || prefixes.length === 256 - PREFIXED) return TEXT;
      code = prefixes.push(prefix) - 1;
      prefixCodes.set(prefix, code);
    }
    lastPrefix = prefix;
    lastCode = code;
    return PREFIXED + code;
  }

  function growHandles(): void {
    capacity = Math.ceil(capacity * 1.5);
    words = grownInto(words, new Uint32Array(capacity * 4));
    forms = grownInto(forms, new Uint8Array(capacity));
    generations = grownInto(generations, new Int32Array(capacity));
    data = grownInto(data, new Int32Array(capacity * columns));
  }

  function growSlots(): void {
    const old = slots;
    slots = new Int32Array(old.length * 2).fill(-1);
    mask = slots.length - 1;
    for (const handle of old) {
      if (handle < 0) continue;
      let i = hashOf(handle) & mask;
      while (slots[i] !== -1) i = (i + 1) & mask;
      slots[i] = handle;
    }
  }

  return {
    get size() {
      return size;
    },
    find(id) {
      const form = formOf(id, key, 0, false);
      if (form !== TEXT) {
        for (let i = hashWords(key, 0, form) & mask; ; i = (i + 1) & mask) {
          const handle = slots[i]!;
          if (handle === -1) return -1;
          const at = handle * 4;
          if (forms[handle] === form && words[at] === key[0] && words[at + 1] === key[1] && words[at + 2] === key[2] && words[at + 3] === key[3]) return handle;
        }
      }
      for (let i = hashText(id) & mask; ; i = (i + 1) & mask) {
        const handle = slots[i]!;
        if (handle === -1) return -1;
        if (forms[handle] === TEXT && texts.get(handle) === id) return handle;
      }
    },
    intern(id) {
      if ((size + 1) * 2 > slots.length) growSlots();
      const form = formOf(id, key, 0, true);
      let i = form === TEXT ? hashText(id) & mask : hashWords(key, 0, form) & mask;
      for (; ; i = (i + 1) & mask) {
        const handle = slots[i]!;
        if (handle === -1) break;
        if (forms[handle] !== form) continue;
        if (form === TEXT ? texts.get(handle) === id : words[handle * 4] === key[0] && words[handle * 4 + 1] === key[1] && words[handle * 4 + 2] === key[2] && words[handle * 4 + 3] === key[3]) return handle;
      }
      // Not there: slot i ends its probe run, and nothing moved since.
      const handle = free.pop() ?? fresh++;
      if (handle >= capacity) growHandles();
      forms[handle] = form;
      if (form === TEXT) texts.set(handle, id);
      else words.set(key, handle * 4);
      data.fill(0, handle * columns, (handle + 1) * columns);
      slots[i] = handle;
      size++;
      return handle;
    },
    insert(id) {
      if ((size + 1) * 2 > slots.length) growSlots();
      const handle = free.pop() ?? fresh++;
      if (handle >= capacity) growHandles();
      forms[handle] = formOf(id, words, handle * 4, true);
      if (forms[handle] === TEXT) texts.set(handle, id);
      data.fill(0, handle * columns, (handle + 1) * columns);
      let i = hashOf(handle) & mask;
      while (slots[i] !== -1) i = (i + 1) & mask;
      slots[i] = handle;
      size++;
      return handle;
    },
    remove(handle) {
      let i = hashOf(handle) & mask;
      while (slots[i] !== handle) {
        if (slots[i] === -1) throw new Error(`id arena: handle ${handle} is not live`);
        i = (i + 1) & mask;
      }
      // Backward-shift deletion: later entries of the probe run move up into the gap when their
      // home slot is not between the gap and them, so that no lookup stops short at an empty slot.
      for (let j = (i + 1) & mask; slots[j] !== -1; j = (j + 1) & mask) {
        const home = hashOf(slots[j]!) & mask;
        const between = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!between) {
          slots[i] = slots[j]!;
          i = j;
        }
      }
      slots[i] = -1;
      if (forms[handle] === TEXT) texts.delete(handle);
      forms[handle] = TEXT;
      generations[handle]! += 1;
      free.push(handle);
      size--;
    },
    text(handle) {
      const form = forms[handle]!;
      if (form === TEXT) return texts.get(handle)!;
      const at = handle * 4;
      if (form === UUID) return uuidText(words, at);
      return `${prefixes[form - PREFIXED]}_${hexOf(words[at]!)}${hexOf(words[at + 1]!)}${hexOf(words[at + 2]!)}${hexOf(words[at + 3]!)}`;
    },
    generation: (handle) => generations[handle]!,
    get: (column, handle) => data[handle * columns + column]!,
    set(column, handle, value) {
      data[handle * columns + column] = value;
    },
    bytes: () => words.byteLength + forms.byteLength + generations.byteLength + data.byteLength + slots.byteLength + free.length * 8,
  };
}
