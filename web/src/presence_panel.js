// "Who is online" from a phoenix Presence: one row per user, with a device count (one meta
// per connection of that user).
import { el } from './dom.js';
import { identityNodes } from './identity.js';

export function presenceRows(presence) {
  const rows = presence.list((userId, entry) => {
    const metas = Array.isArray(entry.metas) ? entry.metas : [];
    const named = metas.find((m) => m && typeof m.name === 'string' && m.name);
    return { userId, name: named ? named.name : userId, devices: metas.length };
  });
  return rows.sort((a, b) => a.name.localeCompare(b.name) || a.userId.localeCompare(b.userId));
}

// names: the room's NameDirectory; every row is noted first, so two members going by the same
// name both show their ids. Returns true when a name became shared (other labels may need ids).
export function renderPresence(listNode, rows, myUserId, names) {
  let isNameNewlyShared = false;
  for (const row of rows) if (names.note(row.userId, row.name)) isNameNewlyShared = true;
  listNode.replaceChildren(...rows.map((row) => el('li', {
    class: 'flex items-center gap-2 text-sm',
    dataset: { testid: 'presence-item', userId: row.userId },
  },
  el('span', { class: 'h-2 w-2 shrink-0 rounded-full bg-emerald-500', 'aria-hidden': 'true' }),
  el('span', { class: 'min-w-0 flex-1 truncate', dataset: { testid: 'presence-name' } },
    ...identityNodes(row.userId, row.name, names.needsId(row.userId, row.name)),
    row.userId === myUserId ? ' (you)' : null),
  el('span', {
    class: 'shrink-0 rounded-full bg-slate-100 px-1.5 text-xs tabular-nums text-slate-600',
    title: `${row.devices} ${row.devices === 1 ? 'device' : 'devices'}`,
    'aria-label': `${row.devices} ${row.devices === 1 ? 'device' : 'devices'}`,
    dataset: { testid: 'presence-devices' },
  }, String(row.devices)))));
  return isNameNewlyShared;
}
