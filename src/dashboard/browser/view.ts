/**
 * Views: plain descriptions of the DOM a panel wants (tag, class, text, attributes, two handlers,
 * children), built with `h` and turned into elements by `dom.ts`. Panels return views instead of
 * touching the document, so they are pure functions of the data and render in tests without a browser.
 * Text is always text: a view has no way to carry HTML.
 */

/** An attribute's value: `true` sets it empty, `false`, `null` and `undefined` leave it out. */
export type AttributeValue = string | number | boolean | null | undefined;

/** The only inline styles the page sets (through the CSSOM, which the style-src hash policy allows). */
export type StyleProperty = 'width' | 'left';

/** What a click handler may do to the control it came from. */
export interface Control {
  disable(): void;
}

export interface Handlers {
  click?: (control: Control) => void;
  /** A `<details>` opened or closed. */
  toggle?: (open: boolean) => void;
}

export interface Props {
  className?: string;
  /** Set as the element's text content, before any children. */
  text?: string;
  attrs?: Readonly<Record<string, AttributeValue>>;
  style?: Readonly<Partial<Record<StyleProperty, string>>>;
  on?: Handlers;
}

export interface View {
  readonly tag: string;
  readonly props: Props;
  readonly children: readonly (View | string)[];
}

/** Children as panels write them: nested lists, and holes (`null`, `undefined`, `false`) that render nothing. */
export type Child = View | string | null | undefined | false | readonly Child[];

export function h(tag: string, props: Props = {}, children: Child = []): View {
  const flat: (View | string)[] = [];
  const add = (child: Child): void => {
    if (child === null || child === undefined || child === false) return;
    if (typeof child === 'string' || !isChildList(child)) flat.push(child);
    else child.forEach(add);
  };
  add(children);
  return { tag, props, children: flat };
}

function isChildList(child: View | readonly Child[]): child is readonly Child[] {
  return Array.isArray(child);
}

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'idle';

export function chip(text: string, tone: Tone): View {
  return h('span', { className: `chip tone-${tone}`, text });
}
