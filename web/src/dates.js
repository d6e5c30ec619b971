// Message times: the short time shown on each message, the full date for its title (hover), and
// the day a message belongs to, for the separators between days. Pure functions (no DOM), so
// tests can load this file in Node. Days are the viewer's local calendar days.
const kTimeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const kFullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const kDayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full' });

// A message's time as a Date, or null. `ts` (ms since the epoch) is what the server sends;
// `inserted_at` (ms, or an ISO string) is accepted too for tombstones (protocol-16 history rows).
export function messageDate(m) {
  const raw = typeof m?.ts === 'number' ? m.ts : m?.inserted_at;
  if (typeof raw !== 'number' && typeof raw !== 'string') return null;
  const when = new Date(raw);
  return Number.isNaN(when.getTime()) ? null : when;
}

// "2026-12-06" in local time: equal keys = same calendar day.
export function dayKey(when) {
  if (!when) return null;
  const pad = (n) => String(n).padStart(2, '0');
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
}

// The separator's text: "Today", "Yesterday", else the full date ("Saturday, 5 December 2026").
export function dayLabel(when, now = new Date()) {
  const key = dayKey(when);
  if (key === dayKey(now)) return 'Today';
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(yesterday)) return 'Yesterday';
  return kDayFormat.format(when);
}

export const shortTime = (when) => (when ? kTimeFormat.format(when) : '');
export const fullDateTime = (when) => (when ? kFullFormat.format(when) : '');

// For an ascending list of message dates (null = unknown), the indexes that start a new day:
// the first dated message, and every one whose day differs from the previous dated one.
export function dayStarts(dates) {
  const starts = [];
  let previous = null;
  dates.forEach((when, i) => {
    const key = dayKey(when);
    if (key === null) return;
    if (key !== previous) starts.push(i);
    previous = key;
  });
  return starts;
}
