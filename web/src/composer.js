// The message box: its character counter, the too-long warning, and what may be sent. The box
// has no maxlength: a browser would cut a long paste silently. The whole text stays in the box,
// and send() refuses it (with the reason on screen) until it fits.
import { $ } from './dom.js';

export const kMaxBodyChars = 4000;  // the server's limit (protocol.md, new_msg), in code points

// The server counts Unicode code points; String.length counts UTF-16 units (an emoji is 2).
export function codePointCount(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

// null when `text` may be sent, else {reason} to show.
export function composerRefusal(text) {
  if (text.length === 0) return { reason: '' };  // nothing typed: Enter does nothing, says nothing
  if (text.trim().length === 0) return { reason: 'Nothing to send: the message is only spaces.' };
  const n = codePointCount(text);
  if (n > kMaxBodyChars) return { reason: tooLongText(n) };
  return null;
}

const tooLongText = (n) => `Too long to send: ${n} characters, the limit is ${kMaxBodyChars}. ` +
  `Remove ${n - kMaxBodyChars} to send it.`;

export class Composer {
  constructor() {
    this.box_ = $('composer');
    this.notice_ = '';  // the outbox's line ("Not sent yet: ..."), shown when nothing else is
  }

  get text() { return this.box_.value; }

  clear() {
    this.box_.value = '';
    this.refresh();
  }

  // Puts text back (an outbox item to edit) when the box is empty; false when it is not.
  restore(text) {
    if (this.box_.value !== '') return false;
    this.box_.value = text;
    this.refresh();
    return true;
  }

  // Updates the counter and the too-long warning; called on every input.
  refresh() {
    const n = codePointCount(this.box_.value);
    const counter = $('composer-counter');
    counter.textContent = `${n} / ${kMaxBodyChars}`;
    counter.classList.toggle('text-red-700', n > kMaxBodyChars * 0.95);
    counter.classList.toggle('font-semibold', n > kMaxBodyChars);
    counter.classList.toggle('text-slate-500', n <= kMaxBodyChars * 0.95);
    const isTooLong = n > kMaxBodyChars;
    this.box_.setAttribute('aria-invalid', String(isTooLong));
    this.box_.classList.toggle('border-red-500', isTooLong);
    this.box_.classList.toggle('border-slate-300', !isTooLong);
    $('send').disabled = isTooLong;
    this.setError(isTooLong ? tooLongText(n) : null);
  }

  // An error about the text in the box; null falls back to the outbox's notice.
  setError(text) {
    const node = $('composer-error');
    node.textContent = text ?? this.notice_;
    node.dataset.kind = text ? 'composer' : this.notice_ ? 'outbox' : '';
  }

  setNotice(text) {
    this.notice_ = text ?? '';
    const node = $('composer-error');
    if (node.dataset.kind !== 'composer') this.setError(null);
  }

  // Returns the text to send, or null after showing why it cannot be sent.
  take() {
    const text = this.box_.value;
    const refusal = composerRefusal(text);
    if (refusal) {
      if (refusal.reason) this.setError(refusal.reason);
      return null;
    }
    return text;
  }
}
