import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createIdArena, uuidText, uuidWords } from '../src/matching/idArena.ts';
import { seededRandom } from './support/faces.ts';

test('the contract\'s prefixed ids and UUIDs come back from the arena as they went in, next to ids of any other shape', (t) => {
  const arena = createIdArena(0);
  const ids = [`tpl_${hex32()}`, `usr_${hex32()}`, `a_${hex32()}`, `abcdefgh_${hex32()}`, randomUUID(), `tpl_${'0'.repeat(32)}`, `usr_${'f'.repeat(32)}`, 'plain', '', `tpl_${hex32()}`.toUpperCase()];
  const handles = ids.map((id) => arena.insert(id));
  ids.forEach((id, i) => {
    t.is(arena.find(id), handles[i]!);
    t.is(arena.text(handles[i]!), id);
  });
  t.is(arena.find(`tpl_${hex32()}`), -1);
  t.is(arena.find(`zzz_${hex32()}`), -1, 'a prefix never seen');
  const digits = hex32();
  const [a, b] = [arena.insert(`tpl_${digits}`), arena.insert(`usr_${digits}`)];
  t.not(a, b);
  t.is(arena.find(`usr_${digits}`), b);
  t.is(arena.text(a), `tpl_${digits}`);
  // Past the 254 prefixes the arena names, ids are kept as text, and still found.
  const many = Array.from({ length: 300 }, (_, i) => `${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}q_${hex32()}`);
  const manyHandles = many.map((id) => arena.insert(id));
  many.forEach((id, i) => {
    t.is(arena.find(id), manyHandles[i]!);
    t.is(arena.text(manyHandles[i]!), id);
  });
  t.is(arena.size, ids.length + 2 + many.length);
});

test('a canonical UUID text goes to four words and back unchanged; any other text is refused', (t) => {
  const words = new Uint32Array(8);
  for (const id of [randomUUID(), '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '0123abcd-4567-89ef-fedc-ba9876543210']) {
    t.true(uuidWords(id, words, 4), id);
    t.is(uuidText(words, 4), id);
  }
  const id = randomUUID();
  for (const other of [id.toUpperCase(), id.slice(1), `${id}0`, id.replace(/-/g, ''), id.replace('-', '0'), `${id.slice(0, 35)}g`, `${id.slice(0, 35)}é`, `${id.slice(0, 8)}_${id.slice(9)}`, '', 't1']) {
    t.false(uuidWords(other, words, 0), other);
  }
});

const hex32 = () => randomUUID().replaceAll('-', '');

// Every operation checked against a Map, over UUIDs, the contract's prefixed ids and other texts
// (near misses of both shapes, which must stay different ids), with removals that reuse handles,
// enough ids to grow the handles and the table several times, and more prefixes than the arena
// names (the rest are kept as text).
test('ids are found, added (by insert, or by intern, which also finds) and removed as a Map would, through growth and reused handles, with their columns', (t) => {
  const random = seededRandom(42);
  const arena = createIdArena(2);
  const model = new Map<string, { handle: number; generation: number; a: number; b: number }>();
  const pool: string[] = [];
  const nearMisses = (digits: string) => [`tpl_${digits.toUpperCase()}`, `tpl_${digits.slice(1)}`, `tpl_${digits}0`, `TPL_${digits}`, `tpl1_${digits}`, `toolongpre_${digits}`, `_${digits}`, `tpl-${digits}`];
  for (let i = 0; i < 6000; i++) {
    const uuid = randomUUID();
    const digits = hex32();
    pool.push(uuid, `tpl_${digits}`, `usr_${hex32()}`, i % 7 === 0 ? uuid.toUpperCase() : `user-${i}`, i % 11 === 0 ? `${i}` : uuid.slice(0, 30));
    if (i % 5 === 0) pool.push(nearMisses(digits)[i % 8]!);
    // 300 prefixes of their own, past the arena's 254.
    if (i < 300) pool.push(`${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}p_${hex32()}`);
  }
  for (let step = 0; step < 80000; step++) {
    const id = pool[Math.floor(random() * pool.length)]!;
    const known = model.get(id);
    t.is(arena.find(id), known ? known.handle : -1);
    if (known && random() < 0.2) {
      const size = arena.size;
      t.is(arena.intern(id), known.handle, 'intern finds an id that is there');
      t.is(arena.size, size);
    }
    if (known && random() < 0.45) {
      t.is(arena.generation(known.handle), known.generation);
      arena.remove(known.handle);
      t.not(arena.generation(known.handle), known.generation, 'a removed handle is of another generation');
      model.delete(id);
    } else if (!known) {
      const size = arena.size;
      const handle = step % 2 === 0 ? arena.insert(id) : arena.intern(id);
      t.is(arena.size, size + 1);
      t.is(arena.get(0, handle), 0, 'a new handle starts with zeroed columns');
      const a = Math.floor(random() * 1e9);
      const b = -Math.floor(random() * 1e9);
      arena.set(0, handle, a);
      arena.set(1, handle, b);
      model.set(id, { handle, generation: arena.generation(handle), a, b });
    }
    if (step % 5000 === 0 || step === 79999) {
      t.is(arena.size, model.size);
      const handles = new Set<number>();
      for (const [text, entry] of model) {
        t.is(arena.find(text), entry.handle);
        t.is(arena.text(entry.handle), text);
        t.is(arena.get(0, entry.handle), entry.a);
        t.is(arena.get(1, entry.handle), entry.b);
        handles.add(entry.handle);
      }
      t.is(handles.size, model.size, 'live ids have distinct handles');
    }
  }
  t.true(arena.bytes() > 0);
});
