import { AppError } from '../errors/appError.ts';
import { handleCommand, loadStream, type StreamDecider } from '../eventStore/commandHandler.ts';
import type { AppendResult, EventStore, ExpectedRevision } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { userStream } from '../ids/streams.ts';
import { decideUser, evolveUser, initialUserState, type UserCommand, type UserState } from './userDecider.ts';
import type { UserEvent } from './userEvents.ts';

/** The user aggregate over its stream: snapshots (`UserSnapshotted`) bound how much a load reads. */
export const userDecider: StreamDecider<UserState, UserEvent> = {
  initialState: initialUserState,
  evolve: evolveUser,
  snapshot: {
    type: 'UserSnapshotted',
    toData: (state) => state,
    fromData: (data) => data as UserState,
  },
};

export interface LoadedUser {
  readonly state: UserState;
  readonly expected: ExpectedRevision;
  /** Tenant and mode of the stream's first event: the data set the user belongs to. */
  readonly owner: { readonly tenantId: string; readonly mode: string } | undefined;
  /** When the user enrolled (the first event), if they did. */
  readonly enrolledAt: string | undefined;
}

/** Loads users from their streams and appends what the decider says, retrying on a race. */
export interface UserRepository {
  load(userId: string): Promise<LoadedUser>;
  /**
   * Loads the user, decides, appends with the loaded revision; on a concurrent write it loads and
   * decides again (a few times). Returns the events appended and the append result.
   */
  handle(userId: string, command: UserCommand | ((state: UserState) => UserCommand), context: CommandContext): Promise<{ events: UserEvent[]; result: AppendResult; state: UserState }>;
}

export function createUserRepository(store: EventStore, ids: IdGenerator, clock: () => Date): UserRepository {
  async function load(userId: string): Promise<LoadedUser> {
    const loaded = await loadStream(store, userStream(userId), userDecider);
    const first = loaded.first;
    return {
      state: loaded.state,
      expected: loaded.revision ?? 'no_stream',
      owner: first ? { tenantId: first.metadata.tenantId ?? '', mode: first.metadata.mode ?? '' } : undefined,
      enrolledAt: first?.metadata.occurredAt,
    };
  }

  return {
    load,
    async handle(userId, command, context) {
      const handled = await handleCommand(store, userStream(userId), userDecider, (state) => decideUser(typeof command === 'function' ? command(state) : command, state), {
        ids,
        metadata: () => eventMetadata(context, clock()),
        check(first) {
          // A user of another tenant or mode is, to this caller, a user that does not exist.
          if (first && (first.metadata.tenantId !== context.tenant.tenantId || first.metadata.mode !== context.tenant.mode)) {
            throw new AppError('NOT_FOUND', 'user not found', { userId });
          }
        },
        // After UserErased the store takes no event of the user: not on this stream, nor on the
        // streams it guards (the user's sign-ins).
        closes: (events) => events.some((event) => event.type === 'UserErased'),
      });
      // decideUser never decides nothing: every user command appends.
      return { events: handled.events, state: handled.state, result: handled.result! };
    },
  };
}
