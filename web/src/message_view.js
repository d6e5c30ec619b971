// The markup of one message row, a tombstone (deleted message), a day separator and the "new
// messages" divider. Text only ever goes in through el()/textContent (dom.js), never as HTML.
import { fullDateTime, messageDate, shortTime } from './dates.js';
import { el } from './dom.js';

const kConfirmDeleteMs = 4000;  // a second click within this confirms; long enough to read "Delete?"

// Accepts only the fields we render, with the types the contract promises. A tombstone
// (`deleted: true`, body erased) needs only its id.
export function isWellFormedMessage(m) {
  if (m === null || typeof m !== 'object' || !Number.isSafeInteger(m.id)) return false;
  if (m.deleted === true) return true;
  return typeof m.body === 'string' && typeof m.ts === 'number';
}

// The name a message shows: the sender's name claim, else the user id.
export function authorName(m) {
  if (typeof m.user === 'string' && m.user) return m.user;
  if (typeof m.user_name === 'string' && m.user_name) return m.user_name;
  return String(m.user_id ?? 'unknown');
}

function timeNode(m) {
  const when = messageDate(m);
  return el('time', {
    class: 'text-xs text-slate-500',
    datetime: when ? when.toISOString() : '',
    title: fullDateTime(when),  // the full date on hover: the row itself shows only the time
    dataset: { testid: 'message-time' },
  }, shortTime(when));
}

// A two-step delete button: the first click arms it ("Delete?"), a second one within a few
// seconds calls onDelete(). No confirm() dialog: it blocks the page and tests treat it as a bug.
function deleteButton(onDelete) {
  const button = el('button', {
    type: 'button',
    class: 'ml-auto hidden rounded px-1.5 text-xs group-data-[deletable=true]:inline-block text-slate-400 hover:bg-red-50 hover:text-red-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500',
    'aria-label': 'Delete message',
    dataset: { testid: 'message-delete' },
  }, 'Delete');
  let disarmTimer = null;
  const disarm = () => {
    delete button.dataset.armed;
    button.textContent = 'Delete';
    button.setAttribute('aria-label', 'Delete message');
    button.classList.replace('text-red-700', 'text-slate-400');
  };
  button.addEventListener('click', () => {
    if (button.dataset.armed !== 'true') {
      button.dataset.armed = 'true';
      button.textContent = 'Delete?';
      button.setAttribute('aria-label', 'Press again to delete the message');
      button.classList.replace('text-slate-400', 'text-red-700');
      disarmTimer = setTimeout(disarm, kConfirmDeleteMs);
      return;
    }
    clearTimeout(disarmTimer);
    button.disabled = true;
    button.textContent = 'Deleting…';
    onDelete(() => {  // called back when the delete failed: back to the first step
      button.disabled = false;
      disarm();
    });
  });
  return button;
}

// authorNode: the label built by the caller (identity.js); onDelete: null when not allowed.
export function messageRow(m, { isMine, authorNode, onDelete }) {
  const isDeleted = m.deleted === true;
  const row = el('li', {
    class: 'rounded-lg px-3 py-2 shadow-sm ' + (isDeleted ? 'bg-slate-50' : isMine ? 'bg-indigo-50' : 'bg-white'),
    dataset: { testid: 'message-item', id: String(m.id), ...(isDeleted ? { deleted: 'true' } : {}) },
  },
  el('div', { class: 'flex items-baseline gap-2' },
    authorNode,
    timeNode(m),
    !isDeleted && onDelete ? deleteButton(onDelete) : null),
  isDeleted
    ? el('p', { class: 'text-sm italic text-slate-500', dataset: { testid: 'message-tombstone' } }, 'message deleted')
    : el('p', { class: 'msg-body text-slate-800', dataset: { testid: 'message-body' } }, m.body));
  return row;
}

export function daySeparator(label) {
  return el('li', {
    role: 'separator',
    'aria-label': label,
    class: 'flex items-center gap-3 py-1 text-xs font-medium text-slate-500 before:h-px before:flex-1 before:bg-slate-200 after:h-px after:flex-1 after:bg-slate-200',
    dataset: { testid: 'date-separator' },
  }, label);
}

export function unreadDivider() {
  return el('li', {
    role: 'separator',
    'aria-label': 'New messages',
    class: 'flex items-center gap-3 py-1 text-xs font-semibold text-red-600 before:h-px before:flex-1 before:bg-red-300 after:h-px after:flex-1 after:bg-red-300',
    dataset: { testid: 'new-messages-divider' },
  }, 'New messages');
}
