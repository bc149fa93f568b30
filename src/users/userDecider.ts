import { AppError } from '../errors/appError.ts';
import type { FaceTemplateAdded, FaceTemplateRemoved, UserEvent } from './userEvents.ts';

/** A template as the aggregate knows it: enough to choose which to evict. */
export interface TemplateSummary {
  readonly templateId: string;
  readonly quality: number;
  readonly order: number;
}

export interface UserState {
  readonly status: 'absent' | 'active' | 'erased';
  readonly userId: string | null;
  readonly emailIndex: string | null;
  readonly templates: readonly TemplateSummary[];
  /** Sign-in attempts in the user's own stream: only older versions wrote them there (they have streams of their own now). */
  readonly signIns: number;
  readonly added: number;
}

export function initialUserState(): UserState {
  return { status: 'absent', userId: null, emailIndex: null, templates: [], signIns: 0, added: 0 };
}

export type NewTemplate = FaceTemplateAdded['data'];

export type UserCommand =
  | { readonly type: 'Enrol'; readonly userId: string; readonly email: string; readonly emailIndex: string; readonly fullName?: string | null; readonly template: NewTemplate }
  | { readonly type: 'AddTemplate'; readonly template: NewTemplate; readonly maxTemplates: number; readonly fullName?: string | null }
  | { readonly type: 'RemoveTemplate'; readonly templateId: string }
  | { readonly type: 'Erase'; readonly reason: 'api' | 'retention' };

/** Decides which events a command produces for a user in `state`. Pure: throws AppError on refusal. */
export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  switch (command.type) {
    case 'Enrol':
      if (state.status === 'active') throw new AppError('IDEMPOTENCY_CONFLICT', 'user already enrolled', { userId: state.userId });
      if (state.status === 'erased') throw new AppError('NOT_FOUND', 'user was erased', { userId: state.userId });
      return [
        {
          type: 'UserEnrolled',
          data: { userId: command.userId, email: command.email, emailIndex: command.emailIndex, ...(command.fullName ? { fullName: command.fullName } : {}) },
        },
        { type: 'FaceTemplateAdded', data: command.template },
      ];
    case 'AddTemplate': {
      requireActive(state);
      const events: UserEvent[] = [{ type: 'FaceTemplateAdded', data: command.template }];
      // The new template is always kept; beyond maxTemplates the lowest-quality existing ones
      // (the oldest first among equals) make room.
      const excess = state.templates.length + 1 - command.maxTemplates;
      if (excess > 0) {
        const evict = [...state.templates].sort((a, b) => a.quality - b.quality || a.order - b.order).slice(0, excess);
        for (const template of evict) events.push(removal(command.template.userId, template.templateId, 'evicted'));
      }
      if (command.fullName) events.push({ type: 'UserProfileChanged', data: { userId: command.template.userId, fullName: command.fullName } });
      return events;
    }
    case 'RemoveTemplate':
      requireActive(state);
      if (!state.templates.some((t) => t.templateId === command.templateId)) throw new AppError('NOT_FOUND', 'template not found', { templateId: command.templateId });
      return [removal(state.userId!, command.templateId, 'api')];
    case 'Erase':
      requireActive(state);
      return [{ type: 'UserErased', data: { userId: state.userId!, emailIndex: state.emailIndex!, reason: command.reason } }];
    default:
      return assertNever(command);
  }
}

/** Folds one event into the state. */
export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserEnrolled':
      return { ...state, status: 'active', userId: event.data.userId, emailIndex: event.data.emailIndex };
    case 'FaceTemplateAdded':
      return { ...state, added: state.added + 1, templates: [...state.templates, { templateId: event.data.templateId, quality: event.data.quality, order: state.added }] };
    case 'FaceTemplateRemoved':
      return { ...state, templates: state.templates.filter((t) => t.templateId !== event.data.templateId) };
    case 'SignInAttempted':
      return { ...state, signIns: state.signIns + 1 };
    case 'UserProfileChanged':
      return state;
    case 'UserErased':
      return { ...state, status: 'erased', templates: [] };
    default:
      return assertNever(event);
  }
}

function removal(userId: string, templateId: string, reason: FaceTemplateRemoved['data']['reason']): FaceTemplateRemoved {
  return { type: 'FaceTemplateRemoved', data: { userId, templateId, reason } };
}

function requireActive(state: UserState): void {
  if (state.status !== 'active') throw new AppError('NOT_FOUND', 'user not found', state.userId ? { userId: state.userId } : {});
}

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
