/**
 * The README's config reference, generated from the schema so the two cannot drift: the
 * descriptions and defaults live next to the options in schema.ts, and a test compares.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export const REFERENCE_START = '<!-- config-reference:start -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

/** The subset of JSON Schema that z.toJSONSchema emits for this config. */
interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  /** Set by schema.ts where the JSON type (string) undersells the value, e.g. durations. */
  'x-type'?: string;
}

/** A Markdown table: one row per option, dotted paths, `[]` for list items. */
export function configReference(): string {
  // io 'input': the reference documents what users write ("30s"), not what the code gets (30000).
  const root = z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchema;
  const rows = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const row of optionRows(root, '')) rows.push(`| ${row.map(cell).join(' | ')} |`);
  return rows.join('\n');
}

function optionRows(schema: JsonSchema, prefix: string): string[][] {
  const rows: string[][] = [];
  for (const [key, option] of Object.entries(schema.properties ?? {})) {
    const keyPath = prefix === '' ? key : `${prefix}.${key}`;
    const required = schema.required?.includes(key) ?? false;
    const item = option.type === 'array' ? option.items : undefined;
    const nested = option.type === 'object' ? option : item?.type === 'object' ? item : undefined;
    const description = option.description ?? item?.description ?? '';
    // Sections that are only containers (database, lock, …) say nothing their rows do not.
    if (nested === undefined || required || description !== '') {
      rows.push([`\`${keyPath}\``, typeOf(option), defaultOf(option, required), description]);
    }
    if (nested !== undefined) rows.push(...optionRows(nested, item === undefined ? keyPath : `${keyPath}[]`));
  }
  return rows;
}

function typeOf(option: JsonSchema): string {
  if (option['x-type'] !== undefined) return option['x-type'];
  if (option.enum !== undefined) return option.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (option.format === 'uri') return 'URL';
  if (option.type === 'array')
    return option.items?.type === 'object' ? 'list' : `list of ${typeOf(option.items ?? {})}`;
  if (option.type === 'integer' || option.type === 'number') return `${option.type}${rangeOf(option)}`;
  return option.type ?? 'any';
}

function rangeOf(option: JsonSchema): string {
  const { minimum: min, maximum: max } = option;
  const hasMax = max !== undefined && max < Number.MAX_SAFE_INTEGER;
  if (min !== undefined && hasMax) return ` ${min}–${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (hasMax) return ` ≤ ${max}`;
  return '';
}

function defaultOf(option: JsonSchema, required: boolean): string {
  if (option.default !== undefined) return `\`${JSON.stringify(option.default)}\``;
  return required ? 'required' : '—';
}

/** Pipes end a table cell even inside code spans; GitHub reads `\|` as a literal pipe. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}

/**
 * Puts `table` between the markers of `readme`, leaving everything else byte for byte.
 * Throws when the markers are missing, duplicated or out of order.
 */
export function replaceReferenceBlock(readme: string, table: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  const markers = `${REFERENCE_START} … ${REFERENCE_END}`;
  if (start === -1 || end === -1) throw new Error(`no config reference block (${markers}) in the README`);
  if (readme.indexOf(REFERENCE_START, start + 1) !== -1 || readme.indexOf(REFERENCE_END, end + 1) !== -1) {
    throw new Error(`more than one config reference block (${markers}) in the README`);
  }
  if (end < start) throw new Error(`${REFERENCE_END} comes before ${REFERENCE_START} in the README`);
  // Blank lines around the table so Markdown renders it as a table, not as part of the comment.
  const block = `${REFERENCE_START}\n\n${table.trim()}\n\n${REFERENCE_END}`;
  return readme.slice(0, start) + block + readme.slice(end + REFERENCE_END.length);
}
