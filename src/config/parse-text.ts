/**
 * Config file text to a plain value: JSON for `.json`, YAML (a superset of JSON) otherwise. Error
 * messages give file, line and column but never quote the text, which may hold secrets.
 */
import path from 'node:path';
import YAML, { type YAMLError } from 'yaml';
import { invalidConfig } from './config-errors.js';

export function parseConfigText(text: string, file: string): unknown {
  if (path.extname(file).toLowerCase() === '.json') {
    try {
      return JSON.parse(text);
    } catch {
      // JSON.parse messages quote the surrounding text, which may hold a secret: locate it ourselves.
      const { offset, problem } = locateJsonError(text);
      const { line, col } = lineAndColumn(text, offset);
      throw invalidConfig(file, [`${file}:${line}:${col}: invalid JSON: ${problem}`]);
    }
  }
  // YAML 1.2 is a superset of JSON, so any other extension is read as YAML.
  // merge: `<<: *defaults` lets reports share settings; warnings are errors, as nothing prints them.
  const doc = YAML.parseDocument(text, {
    prettyErrors: true,
    uniqueKeys: true,
    merge: true,
    logLevel: 'silent',
  });
  const errors = [...doc.errors, ...doc.warnings];
  if (errors.length > 0) {
    throw invalidConfig(
      file,
      errors.map((e) => `${file}:${yamlPosition(e)}: invalid YAML: ${yamlProblem(e)}`),
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw invalidConfig(file, [
      `${file}: invalid YAML: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
}

function yamlPosition(error: YAMLError): string {
  const start = error.linePos?.[0];
  return start ? `${start.line}:${start.col}` : '1:1';
}

/** The first line only: prettyErrors appends the offending source line, which may hold a secret. */
function yamlProblem(error: YAMLError): string {
  const first = error.message.split('\n', 1)[0] ?? '';
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

/** Where JSON.parse gave up and why; only called on text that JSON.parse rejected. */
function locateJsonError(text: string): { offset: number; problem: string } {
  let i = 0;
  class Stop extends Error {}
  const fail: (expected: string) => never = (expected) => {
    const found = text[i];
    const what = found === undefined ? 'end of input' : found === '"' ? `'"'` : JSON.stringify(found);
    throw new Stop(`unexpected ${what}, expected ${expected}`);
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const string = () => {
    i++; // the opening quote
    for (;;) {
      const c = text[i];
      if (c === undefined) fail('a closing quote');
      if (c === '"') {
        i++;
        return;
      }
      if (c < ' ') fail('no control characters inside a string');
      if (c !== '\\') {
        i++;
        continue;
      }
      i++;
      const escaped = text[i] ?? '';
      if (escaped === 'u' && /^u[0-9a-fA-F]{4}$/.test(text.slice(i, i + 5))) i += 5;
      else if (escaped !== '' && '"\\/bfnrt'.includes(escaped)) i++;
      else fail('an escape sequence');
    }
  };
  const sequence = (close: string, item: () => void) => {
    i++; // the opening bracket
    space();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      if (text[i] !== ',') fail(`"," or "${close}"`);
      i++;
    }
  };
  const member = () => {
    space();
    if (text[i] !== '"') fail('a property name in double quotes');
    string();
    space();
    if (text[i] !== ':') fail('":"');
    i++;
    value();
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') sequence('}', member);
    else if (c === '[') sequence(']', value);
    else if (c === '"') string();
    else literal();
  };
  const literal = () => {
    const match = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!match) fail('a value');
    i += match[0].length;
  };
  try {
    value();
    space();
    if (i < text.length) fail('the end of the document');
    return { offset: i, problem: 'not valid JSON' };
  } catch (error) {
    if (error instanceof Stop) return { offset: i, problem: error.message };
    throw error;
  }
}

function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}
