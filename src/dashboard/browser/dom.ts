/**
 * Turns views into elements. Text goes in as text nodes or `textContent`, attributes through
 * `setAttribute`, styles through the CSSOM: nothing from the API is ever parsed as HTML, and nothing
 * needs an inline style attribute (which the page's style-src policy would block).
 */
import type { View } from './view';

export function toNode(view: View | string): Node {
  if (typeof view === 'string') return document.createTextNode(view);
  const { className, text, attrs = {}, style = {}, on = {} } = view.props;
  const element = document.createElement(view.tag);
  if (className !== undefined) element.className = className;
  if (text !== undefined) element.textContent = text;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [property, value] of Object.entries(style)) if (value !== undefined) element.style.setProperty(property, value);
  const { click, toggle } = on;
  if (click) element.addEventListener('click', () => click({ disable: () => element.toggleAttribute('disabled', true) }));
  if (toggle) element.addEventListener('toggle', () => toggle(element.hasAttribute('open')));
  element.append(...view.children.map(toNode));
  return element;
}

/** Replaces the children of `parent` with the views. */
export function fill(parent: Element, views: readonly (View | string)[]): void {
  parent.replaceChildren(...views.map(toNode));
}
