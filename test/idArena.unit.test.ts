import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createIdArena, uuidText, uuidWords } from '../src/matching/idArena.ts';
import { seededRandom } from './support/faces.ts';

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

// Every operation checked against a Map, over UUIDs and other texts (including the text of a UUID
// in capitals, which must stay a different id), with removals that reuse handles and enough ids
// to grow the handles and the table several times.
test('ids are found, added and removed as a Map would, through growth and reused handles, with their columns', (t) => {
  const random = seededRandom(42);
  const arena = createIdArena(2);
  const model = new Map<string, { handle: number; generation: number; a: number; b: number }>();
  const pool: string[] = [];
  for (let i = 0; i < 6000; i++) {
    const uuid = randomUUID();
    pool.push(uuid, i % 7 === 0 ? uuid.toUpperCase() : `user-${i}`, i % 11 === 0 ? `${i}` : uuid.slice(0, 30));
  }
  for (let step = 0; step < 60000; step++) {
    const id = pool[Math.floor(random() * pool.length)]!;
    const known = model.get(id);
    t.is(arena.find(id), known ? known.handle : -1);
    if (known && random() < 0.45) {
      t.is(arena.generation(known.handle), known.generation);
      arena.remove(known.handle);
      t.not(arena.generation(known.handle), known.generation, 'a removed handle is of another generation');
      model.delete(id);
    } else if (!known) {
      const handle = arena.insert(id);
      t.is(arena.get(0, handle), 0, 'a new handle starts with zeroed columns');
      const a = Math.floor(random() * 1e9);
      const b = -Math.floor(random() * 1e9);
      arena.set(0, handle, a);
      arena.set(1, handle, b);
      model.set(id, { handle, generation: arena.generation(handle), a, b });
    }
    if (step % 5000 === 0 || step === 59999) {
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
