// End-to-end: presence at scale. Joins that reach the room's owner in one loop turn share one
// presence_state encoding (a per-joiner head + a shared state tail on the wire) and a busy room's
// diffs are paced by its size (--presence-pace-us-per-member). Every joiner must still get its
// own correct presence_state (its join_ref, after its ok reply, itself included) and, applying
// the diffs that follow with phoenix.js's Presence, converge on exactly the room's members.
// Small sizes, no timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Presence } from 'phoenix';
import { openRaw } from './lib/raw_ws.mjs';
import { startServer, waitFor } from './lib/server.mjs';

const JOINERS = 30;
let srv;
const clients = [];
// One shard: every join reaches the same owner, so joins sent back to back share its turns.
// 1 s per member (capped at 1.5 s): the burst's diffs are coalesced into a few.
before(async () => {
  srv = await startServer({ args: ['--shards', '1', '--presence-pace-us-per-member', '1000000'] });
});
after(async () => {
  for (const c of clients) c.terminate();
  await srv?.stop();
});

// phoenix.js's own merge: state, then every diff after it, in arrival order.
function presenceSeenBy(client, topic, joinRef) {
  const frames = client.frames.filter((f) => f[2] === topic);
  const replyAt = frames.findIndex((f) => f[3] === 'phx_reply' && f[1] === joinRef);
  const stateAt = frames.findIndex((f) => f[3] === 'presence_state');
  if (replyAt < 0 || stateAt < 0) return null;
  assert.ok(stateAt > replyAt, 'presence_state comes after the ok reply');
  assert.equal(frames[stateAt][0], joinRef, 'presence_state carries the joiner\'s join_ref');
  let state = Presence.syncState({}, frames[stateAt][4]);
  for (const f of frames.slice(stateAt + 1)) {
    if (f[3] === 'presence_diff') state = Presence.syncDiff(state, f[4]);
  }
  return state;
}

test('joiners of one busy turn each get their own correct presence_state and converge', async () => {
  const topic = 'room:scale';
  const observer = await openRaw(srv, 'observer');
  clients.push(observer);
  assert.equal((await observer.join(topic)).status, 'ok');
  const joiners = await Promise.all(
    Array.from({ length: JOINERS }, (_, i) => openRaw(srv, `user${i}`)));
  clients.push(...joiners);
  // Different join_refs (1, 2, ...): the head is per joiner, the state tail shared.
  for (const [i, c] of joiners.entries()) c.nextRef = 1 + (i % 3);
  // All joins written back to back, without waiting for any answer.
  const refs = joiners.map((c) => {
    const ref = String(c.nextRef++);
    c.ws.send(JSON.stringify([ref, ref, topic, 'phx_join', {}]));
    return ref;
  });
  const replies = await Promise.all(joiners.map((c, i) => c.reply(refs[i])));
  for (const r of replies) assert.equal(r.status, 'ok');

  const everyone = ['observer', ...joiners.map((_, i) => `user${i}`)].sort();
  await waitFor(() => joiners.every((c, i) => {
    const s = presenceSeenBy(c, topic, refs[i]);
    return s && Object.keys(s).sort().join() === everyone.join();
  }), 'every joiner converged on the room', 10000);
  for (const [i, c] of joiners.entries()) {
    const s = presenceSeenBy(c, topic, refs[i]);
    assert.ok(s[`user${i}`], 'the state includes the joiner itself');
    for (const key of Object.keys(s)) assert.equal(s[key].metas.length, 1, `one meta for ${key}`);
  }
  await waitFor(() => {
    const s = presenceSeenBy(observer, topic, observer.joinRefs[topic]);
    return s && Object.keys(s).sort().join() === everyone.join();
  }, 'the observer converged', 10000);
  // Paced: the observer saw the 30 joins in far fewer diffs than joins.
  const diffs = observer.frames.filter((f) => f[2] === topic && f[3] === 'presence_diff');
  assert.ok(diffs.length <= JOINERS / 3, `${diffs.length} diffs for ${JOINERS} joins`);
});

test('a leave during a paced interval still converges (state after join, diffs after)', async () => {
  const topic = 'room:scale-leave';
  const a = await openRaw(srv, 'stay');
  const b = await openRaw(srv, 'go');
  clients.push(a, b);
  assert.equal((await a.join(topic)).status, 'ok');
  assert.equal((await b.join(topic)).status, 'ok');
  b.terminate();  // leaves by socket death, while the room's next diff may be paced
  const c = await openRaw(srv, 'late');
  clients.push(c);
  assert.equal((await c.join(topic)).status, 'ok');
  for (const [client, label] of [[a, 'stay'], [c, 'late']]) {
    await waitFor(() => {
      const s = presenceSeenBy(client, topic, client.joinRefs[topic]);
      return s && Object.keys(s).sort().join() === 'late,stay';
    }, `${label} converged without "go"`, 10000);
  }
});
