// How a user is shown, so that nobody passes for somebody else. The token's `name` claim is
// chosen by whoever holds the token (`sub: mallory, name: victim`); only `sub` (the user id) is
// unique. So a name is shown alone only when it is the user's own id and no other member in view
// goes by a name that looks the same; otherwise the id follows it ("victim @mallory"). Names and
// ids sit in <bdi>, so a right-to-left override inside a name cannot reorder what follows it.
import { el } from './dom.js';

// Bidi controls, zero-width characters and the BOM: invisible, they only serve to disguise.
const kInvisible = /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;

// Two names "look the same" when they are equal after compatibility folding (full-width letters,
// ligatures), case folding and removing invisible characters.
export function nameKey(name) {
  return String(name).normalize('NFKC').replace(kInvisible, '').toLowerCase().trim();
}

// Names seen in one room (presence and message authors): name key -> user ids going by it.
export class NameDirectory {
  constructor() {
    this.owners_ = new Map();
  }

  // Records that userId goes by name; true when this makes the name shared for the first time
  // (shown names that are already on screen may need their id now).
  note(userId, name) {
    const key = nameKey(name);
    let ids = this.owners_.get(key);
    if (!ids) this.owners_.set(key, (ids = new Set()));
    if (ids.has(userId)) return false;
    ids.add(userId);
    return ids.size === 2;
  }

  // Whether the id must be shown next to this name.
  needsId(userId, name) {
    if (name !== userId) return true;
    const ids = this.owners_.get(nameKey(name));
    return ids !== undefined && ids.size > 1;
  }

  clear() {
    this.owners_.clear();
  }
}

// The children of an author or presence label: <bdi>name</bdi>, then " @<bdi>id</bdi>" when the
// name alone could mislead.
export function identityNodes(userId, name, showId) {
  const nodes = [el('bdi', { dataset: { testid: 'identity-name' } }, name)];
  if (showId) {
    nodes.push(' ', el('span', {
      class: 'text-xs font-normal text-slate-500',
      title: 'user id',
      dataset: { testid: 'identity-id' },
    }, '@', el('bdi', {}, userId)));
  }
  return nodes;
}
