import test from 'ava';
import { genesisDigest, receiptDigest, verifyChain, type ChainedReceipt } from '../src/compliance/receiptChain.ts';

function chainOf(count: number): ChainedReceipt[] {
  const receipts: ChainedReceipt[] = [];
  let previous = genesisDigest;
  for (let sequence = 1; sequence <= count; sequence++) {
    const unchained = {
      receiptId: `rcpt_${sequence}`,
      sequence,
      userId: `usr_${String(sequence).padStart(32, '0')}`,
      mode: 'live',
      erasedAt: `2026-11-0${sequence}T10:00:00.000Z`,
      position: String(sequence * 10),
      keyIdDestroyed: `dk_${sequence}`,
      deletedRecords: { profile: 1, templates: sequence, signInLogs: 2 * sequence },
      previousDigest: previous,
    };
    const receipt = { ...unchained, digest: receiptDigest(previous, unchained) };
    receipts.push(receipt);
    previous = receipt.digest;
  }
  return receipts;
}

test('an intact chain verifies, and its head is the last digest', (t) => {
  const chain = chainOf(4);
  t.deepEqual(verifyChain(chain), { ok: true, receipts: 4, head: chain[3]!.digest });
  t.deepEqual(verifyChain([]), { ok: true, receipts: 0, head: genesisDigest });
});

test('a changed receipt is detected, even when its own digest is recomputed', (t) => {
  const altered = chainOf(4);
  altered[1] = { ...altered[1]!, deletedRecords: { profile: 1, templates: 0, signInLogs: 0 } };
  t.like(verifyChain(altered), { ok: false, sequence: 2 });
  const forged = chainOf(4);
  const { digest: _ignored, ...rest } = { ...forged[1]!, userId: `usr_${'f'.repeat(32)}` };
  forged[1] = { ...rest, digest: receiptDigest(rest.previousDigest, rest) };
  t.like(verifyChain(forged), { ok: false, sequence: 3 }, 'the next receipt no longer chains to it');
});

test('a removed or reordered receipt is detected; a truncated tail is not a broken chain but shows in the head', (t) => {
  const chain = chainOf(4);
  t.like(verifyChain([chain[0]!, chain[2]!, chain[3]!]), { ok: false, sequence: 2 });
  t.like(verifyChain([chain[1]!, chain[0]!, chain[2]!, chain[3]!]), { ok: false, sequence: 1 });
  const truncated = verifyChain(chain.slice(0, 3));
  t.true(truncated.ok);
  t.not((truncated as { head: string }).head, chain[3]!.digest, 'an auditor holding the last head sees the tail is gone');
});

test('the digest does not depend on key order', (t) => {
  const [receipt] = chainOf(1);
  const { digest, ...unchained } = receipt!;
  const reordered = Object.fromEntries(Object.entries(unchained).reverse()) as typeof unchained;
  t.is(receiptDigest(genesisDigest, reordered), digest);
});
