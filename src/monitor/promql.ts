// PromQL templates: the placeholders a query may use ({{model}}, {{version}}, ...) and the
// scanner that fills them, escaping each value for the quotes it lands in so that no value can
// change a query's shape. Pure (eslint enforces it); the templates' {{args.<name>}} use it too.

export const QUERY_PLACEHOLDERS = ['model', 'version', 'namespace', 'deployment', 'checkpoint'] as const;
export type QueryPlaceholder = (typeof QUERY_PLACEHOLDERS)[number];
export type QueryVars = Partial<Record<QueryPlaceholder, string>>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
/** The same, anchored at lastIndex (sticky), for the scanner in renderQuery. */
const PLACEHOLDER_AT = /\{\{\s*([^{}]*?)\s*\}\}/y;

/** The placeholder names a template uses, in order of first use. */
export function templatePlaceholders(template: string): string[] {
  const names: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) if (!names.includes(m[1] ?? '')) names.push(m[1] ?? '');
  return names;
}

function isKnown(name: string): name is QueryPlaceholder {
  return (QUERY_PLACEHOLDERS as readonly string[]).includes(name);
}

const RE2_SPECIAL = /[\\.+*?()|[\]{}^$]/g;

/**
 * Fills {{model}}, {{version}}, {{namespace}}, {{deployment}} and {{checkpoint}} into a PromQL
 * template. Values are escaped for the string they land in (double, single or back quotes), and
 * regex-escaped too inside a `=~` / `!~` matcher, so a value can never change the query's shape.
 * Throws on unknown placeholders, on placeholders without a value, and on a value used outside
 * quotes that is not a plain identifier.
 */
export function renderQuery(template: string, vars: QueryVars): string {
  const used = templatePlaceholders(template);
  const unknown = used.filter((n) => !isKnown(n));
  if (unknown.length > 0) {
    throw new Error(
      `query template uses unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `{{${n}}}`).join(', ')} (known: ${QUERY_PLACEHOLDERS.map((n) => `{{${n}}}`).join(', ')}).`,
    );
  }
  const missing = used.filter((n) => isKnown(n) && vars[n] === undefined);
  if (missing.length > 0) {
    throw new Error(`query template placeholder${missing.length > 1 ? 's' : ''} ${missing.map((n) => `{{${n}}}`).join(', ')} ha${missing.length > 1 ? 've' : 's'} no value.`);
  }
  return fillPlaceholders(template, (name) => vars[name as QueryPlaceholder]);
}

export interface FillOptions {
  /** Also allow a plain decimal number (0.25, 300) outside quotes, e.g. a threshold argument. */
  numbersOutsideQuotes?: boolean;
}

/**
 * The scanner behind renderQuery, for any set of placeholders (template args use it too):
 * `valueOf(name)` gives a placeholder's value, or undefined to leave that placeholder as written
 * (for a later pass). Each value is escaped for the quotes it lands in, as renderQuery says.
 */
export function fillPlaceholders(template: string, valueOf: (name: string) => string | undefined, options: FillOptions = {}): string {
  let out = '';
  let quote: '"' | "'" | '`' | undefined;
  let regexString = false;
  let i = 0;
  while (i < template.length) {
    const ch = template[i] as string;
    if (ch === '{' && template[i + 1] === '{') {
      PLACEHOLDER_AT.lastIndex = i;
      const m = PLACEHOLDER_AT.exec(template);
      if (m) {
        const name = m[1] ?? '';
        const value = valueOf(name);
        out += value === undefined ? m[0] : escapeValue(name, value, quote, regexString, options);
        i += m[0].length;
        continue;
      }
    }
    if (quote === undefined) {
      if (ch === '"' || ch === "'" || ch === '`') {
        quote = ch;
        regexString = /[=!]~\s*$/.test(out);
      }
      out += ch;
      i += 1;
      continue;
    }
    if (ch === '\\' && quote !== '`') {
      out += ch + (template[i + 1] ?? '');
      i += 2;
      continue;
    }
    if (ch === quote) quote = undefined;
    out += ch;
    i += 1;
  }
  return out;
}

function escapeValue(name: string, value: string, quote: '"' | "'" | '`' | undefined, regex: boolean, options: FillOptions = {}): string {
  if (quote === undefined) {
    if (!/^[A-Za-z0-9_:]+$/.test(value) && !(options.numbersOutsideQuotes && /^-?[0-9]+(\.[0-9]+)?$/.test(value))) {
      throw new Error(`query template uses {{${name}}} outside quotes, where its value "${value}" is only allowed if it is a plain identifier${options.numbersOutsideQuotes ? ' or number' : ''}; put it inside a label matcher such as model="{{${name}}}".`);
    }
    return value;
  }
  const v = regex ? value.replace(RE2_SPECIAL, '\\$&') : value;
  if (quote === '`') {
    if (v.includes('`')) throw new Error(`query template puts {{${name}}} in a back-quoted string, which cannot hold the back quote in its value "${value}".`);
    return v;
  }
  let escaped = '';
  for (const c of v) {
    if (c === '\\') escaped += '\\\\';
    else if (c === quote) escaped += `\\${c}`;
    else if (c === '\n') escaped += '\\n';
    else if (c === '\r') escaped += '\\r';
    else if (c === '\t') escaped += '\\t';
    else escaped += c;
  }
  return escaped;
}
