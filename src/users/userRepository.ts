import { AppError } from '../errors/appError.ts';
import { handleCommand } from '../eventStore/commandHandler.ts';
import type { AppendResult, EventStore, ExpectedRevision } from '../eventStore/eventStore.ts';
import { eventMetadata, type CommandContext } from '../eventStore/metadata.ts';
import type { IdGenerator } from '../ids/ids.ts';
import { userStream } from '../ids/streams.ts';
import { decideUser, evolveUser, initialUserState, type UserCommand, type UserState } from './userDecider.ts';
import type { UserEvent } from './userEvents.ts';

export interface LoadedUser {
  readonly state: UserState;
  readonly expected: ExpectedRevision;
  /** Tenant and mode of the stream's first event: the data set the user belongs to. */
  readonly owner: { readonly tenantId: string; readonly mode: string } | undefined;
  /** When the user was erased, if they were. */
  readonly erasedAt: string | undefined;
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
    const events = await store.readStream(userStream(userId));
    let state = initialUserState();
    for (const event of events) state = evolveUser(state, event as unknown as UserEvent);
    const last = events.at(-1);
    const first = events[0];
    const owner = first ? { tenantId: first.metadata.tenantId ?? '', mode: first.metadata.mode ?? '' } : undefined;
    const erased = events.find((event) => event.type === 'UserErased');
    return { state, expected: last ? last.revision : 'no_stream', owner, erasedAt: erased?.metadata.occurredAt };
  }

  return {
    load,
    async handle(userId, command, context) {
      const handled = await handleCommand(store, userStream(userId), { initialState: initialUserState, evolve: evolveUser }, (state) => decideUser(typeof command === 'function' ? command(state) : command, state), {
        ids,
        metadata: () => eventMetadata(context, clock()),
        check(history) {
          // A user of another tenant or mode is, to this caller, a user that does not exist.
          const first = history[0];
          if (first && (first.metadata.tenantId !== context.tenant.tenantId || first.metadata.mode !== context.tenant.mode)) {
            throw new AppError('NOT_FOUND', 'user not found', { userId });
          }
        },
      });
      // decideUser never decides nothing: every user command appends.
      return { events: handled.events, state: handled.state, result: handled.result! };
    },
  };
}
