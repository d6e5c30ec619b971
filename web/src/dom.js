// Tiny DOM helpers. Data from the network only ever reaches the page through textContent and
// attribute setters here, never through innerHTML, so a message body cannot become markup.
export const $ = (id) => document.getElementById(id);

// el('li', {class: 'x', dataset: {testid: 'y'}}, 'text', childNode, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function show(node, isShown) {
  node.hidden = !isShown;
}
