import { createHash } from 'node:crypto';
import { AppError, hasCode } from '../errors/appError.ts';
import { canonicalJson } from '../crypto/canonicalJson.ts';
import type { EventStore, RecordedEvent } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { erasureStream } from '../ids/streams.ts';

/** What an erasure receipt attests, before it is chained. */
export interface ReceiptBody {
  readonly userId: string;
  readonly mode: string;
  readonly erasedAt: string;
  /** Global position of the UserErased event. */
  readonly position: string;
  readonly keyIdDestroyed: string | null;
  readonly deletedRecords: { readonly profile: number; readonly templates: number; readonly signInLogs: number };
}

/** A receipt in its tenant's chain: `digest` = SHA-256 of the previous digest and this receipt. */
export interface ChainedReceipt extends ReceiptBody {
  readonly receiptId: string;
  readonly sequence: number;
  readonly previousDigest: string;
  readonly digest: string;
}

/** The digest every chain starts from. */
export const genesisDigest = '0'.repeat(64);

/** The digest of a receipt given the one before it. Anyone can recompute it from the receipts. */
export function receiptDigest(previousDigest: string, receipt: Omit<ChainedReceipt, 'digest'>): string {
  return createHash('sha256').update(`${previousDigest}\n${canonicalJson(receipt)}`).digest('hex');
}

/**
 * Appends a receipt to the tenant's chain. The chain is its own stream, appended at the revision
 * just read, so two erasures at once cannot both claim the same place: the loser re-reads and
 * chains after the winner.
 */
export async function issueReceipt(store: EventStore, ids: IdGenerator, context: CommandContext, body: ReceiptBody, clock: () => Date): Promise<ChainedReceipt> {
  const stream = erasureStream(context.tenant.tenantId);
  for (let attempt = 0; ; attempt++) {
    const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    const previous = last ? (last.data as ChainedReceipt) : undefined;
    const unchained = { ...body, receiptId: ids.next('rcpt'), sequence: (previous?.sequence ?? 0) + 1, previousDigest: previous?.digest ?? genesisDigest };
    const receipt: ChainedReceipt = { ...unchained, digest: receiptDigest(unchained.previousDigest, unchained) };
    try {
      await store.appendToStream(stream, [{ id: ids.uuid(), type: 'ErasureReceiptIssued', data: receipt, metadata: eventMetadata(context, clock()) }], {
        expectedRevision: last ? last.revision : 'no_stream',
      });
      return receipt;
    } catch (error) {
      if (!hasCode(error, 'WRONG_EXPECTED_REVISION') || attempt >= 9) throw error;
    }
  }
}

export type ChainVerdict = { readonly ok: true; readonly receipts: number; readonly head: string } | { readonly ok: false; readonly receipts: number; readonly problem: string; readonly sequence: number };

/**
 * Verifies a chain read in order: every digest recomputes, every receipt names the digest before
 * it, and sequences run 1, 2, 3… without a gap. A changed, removed or reordered receipt fails.
 */
export function verifyChain(receipts: readonly ChainedReceipt[]): ChainVerdict {
  let previous = genesisDigest;
  for (const [index, receipt] of receipts.entries()) {
    const expectedSequence = index + 1;
    if (receipt.sequence !== expectedSequence) return { ok: false, receipts: receipts.length, sequence: expectedSequence, problem: `receipt ${expectedSequence} is missing (found ${receipt.sequence} in its place)` };
    if (receipt.previousDigest !== previous) return { ok: false, receipts: receipts.length, sequence: receipt.sequence, problem: `receipt ${receipt.sequence} does not chain to the receipt before it` };
    const { digest, ...unchained } = receipt;
    if (receiptDigest(previous, unchained) !== digest) return { ok: false, receipts: receipts.length, sequence: receipt.sequence, problem: `receipt ${receipt.sequence} was altered: its digest does not match its content` };
    previous = digest;
  }
  return { ok: true, receipts: receipts.length, head: previous };
}

/** Reads a tenant's whole chain from the event store, in order. */
export async function readChain(store: EventStore, tenantId: string): Promise<ChainedReceipt[]> {
  const events: RecordedEvent[] = await store.readStream(erasureStream(tenantId));
  return events.filter((event) => event.type === 'ErasureReceiptIssued').map((event) => event.data as ChainedReceipt);
}

export function assertTenantId(tenantId: string): void {
  if (!/^[0-9a-f-]{36}$/.test(tenantId)) throw new AppError('VALIDATION_ERROR', 'tenant: must be a tenant id', { field: 'tenant' });
}
