import test from 'ava';
import { decideUser, evolveUser, initialUserState, type NewTemplate, type UserState } from '../src/users/userDecider.ts';
import type { UserEvent } from '../src/users/userEvents.ts';

const template = (templateId: string, quality: number): NewTemplate => ({
  userId: 'usr_1',
  templateId,
  descriptor: 'fse1:sealed',
  quality,
  lighting: null,
  source: 'descriptor',
  model: 'faceRecognitionNet',
});

function given(events: UserEvent[]): UserState {
  return events.reduce(evolveUser, initialUserState());
}

const enrolled: UserEvent[] = [
  { type: 'UserEnrolled', data: { userId: 'usr_1', email: 'fse1:email', emailIndex: 'idx' } },
  { type: 'FaceTemplateAdded', data: template('tpl_a', 0.9) },
];

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
}

test('given nothing, when enrolling, then the user and the first template are added', (t) => {
  const events = decideUser({ type: 'Enrol', userId: 'usr_1', email: 'fse1:email', emailIndex: 'idx', template: template('tpl_a', 0.9) }, initialUserState());
  t.deepEqual(events, enrolled);
  t.is(given(events).status, 'active');
});

test('given an enrolled user, when enrolling again, then it is refused', (t) => {
  t.is(codeOf(() => decideUser({ type: 'Enrol', userId: 'usr_1', email: 'e', emailIndex: 'idx', template: template('tpl_b', 0.5) }, given(enrolled))), 'IDEMPOTENCY_CONFLICT');
});

test('given templates up to the maximum, when adding one, then the lowest-quality existing template is evicted', (t) => {
  const state = given([...enrolled, { type: 'FaceTemplateAdded', data: template('tpl_b', 0.3) }, { type: 'FaceTemplateAdded', data: template('tpl_c', 0.6) }]);
  const events = decideUser({ type: 'AddTemplate', template: template('tpl_d', 0.1), maxTemplates: 3 }, state);
  t.deepEqual(events, [
    { type: 'FaceTemplateAdded', data: template('tpl_d', 0.1) },
    { type: 'FaceTemplateRemoved', data: { userId: 'usr_1', templateId: 'tpl_b', reason: 'evicted' } },
  ]);
  t.deepEqual(given([...enrolled, { type: 'FaceTemplateAdded', data: template('tpl_b', 0.3) }, { type: 'FaceTemplateAdded', data: template('tpl_c', 0.6) }, ...events]).templates.map((x) => x.templateId), ['tpl_a', 'tpl_c', 'tpl_d']);
});

test('given equal qualities, when evicting, then the oldest goes first', (t) => {
  const state = given([...enrolled, { type: 'FaceTemplateAdded', data: template('tpl_b', 0.9) }]);
  const events = decideUser({ type: 'AddTemplate', template: template('tpl_c', 0.9), maxTemplates: 2 }, state);
  t.deepEqual(events[1], { type: 'FaceTemplateRemoved', data: { userId: 'usr_1', templateId: 'tpl_a', reason: 'evicted' } });
});

test('given a lowered maximum, when adding, then enough templates are evicted to fit', (t) => {
  const state = given([...enrolled, { type: 'FaceTemplateAdded', data: template('tpl_b', 0.2) }, { type: 'FaceTemplateAdded', data: template('tpl_c', 0.4) }]);
  const events = decideUser({ type: 'AddTemplate', template: template('tpl_d', 0.5), maxTemplates: 2 }, state);
  t.deepEqual(events.slice(1).map((e) => (e.type === 'FaceTemplateRemoved' ? e.data.templateId : '')), ['tpl_b', 'tpl_c']);
});

test('given an enrolled user, when removing an unknown template, then it is NOT_FOUND', (t) => {
  t.is(codeOf(() => decideUser({ type: 'RemoveTemplate', templateId: 'tpl_x' }, given(enrolled))), 'NOT_FOUND');
  t.deepEqual(decideUser({ type: 'RemoveTemplate', templateId: 'tpl_a' }, given(enrolled)), [{ type: 'FaceTemplateRemoved', data: { userId: 'usr_1', templateId: 'tpl_a', reason: 'api' } }]);
});

test('given an erased user, when doing anything, then the user is NOT_FOUND', (t) => {
  const erased = given([...enrolled, { type: 'UserErased', data: { userId: 'usr_1', emailIndex: 'idx', reason: 'api' } }]);
  t.is(erased.status, 'erased');
  t.deepEqual(erased.templates, []);
  t.is(erased.emailIndex, 'idx', 'the email index survives so a retried erasure can release the reservation');
  t.is(codeOf(() => decideUser({ type: 'Erase', reason: 'api' }, erased)), 'NOT_FOUND');
  t.is(codeOf(() => decideUser({ type: 'AddTemplate', template: template('tpl_z', 1), maxTemplates: 10 }, erased)), 'NOT_FOUND');
  t.is(codeOf(() => decideUser({ type: 'Enrol', userId: 'usr_1', email: 'e', emailIndex: 'idx', template: template('tpl_z', 1) }, erased)), 'NOT_FOUND');
});

test('given no user, when erasing, then it is NOT_FOUND', (t) => {
  t.is(codeOf(() => decideUser({ type: 'Erase', reason: 'api' }, initialUserState())), 'NOT_FOUND');
});

test('given an active user, when erasing, then UserErased carries no personal data', (t) => {
  t.deepEqual(decideUser({ type: 'Erase', reason: 'api' }, given(enrolled)), [{ type: 'UserErased', data: { userId: 'usr_1', emailIndex: 'idx', reason: 'api' } }]);
});
