import { forbiddenCharacterIn } from '@app/resolver';
import type { NextFunction, Request, Response } from 'express';
import { invalidInput } from './domain-error';

/**
 * The rule every request obeys before a validator, a service or the database sees it, whatever the
 * transport: JSON at most `maxDepth` levels deep (class-transformer and class-validator recurse, and a
 * few thousand levels overflowed their stack), and no NUL or other control character (see
 * {@link forbiddenCharacterIn}) in any string or key, since PostgreSQL cannot store NUL.
 */

const MAX_SHOWN_KEY = 64;

/** Where in a JSON value a problem is, and what it is; `where` is empty for the value itself. */
interface JsonProblem {
  where: string;
  problem: string;
}

function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  const shown = key.length > MAX_SHOWN_KEY ? `${key.slice(0, MAX_SHOWN_KEY)}…` : key;
  return parent === '' ? shown : `${parent}.${shown}`;
}

/**
 * The first problem of a parsed JSON value, walked without recursion (the value may be as deep as the
 * parser allowed). Depth counts objects and arrays: `{}` is 1 level, `{"a":[]}` 2.
 */
function findJsonProblem(root: unknown, maxDepth: number): JsonProblem | undefined {
  const pending: { value: unknown; depth: number; where: string }[] = [{ value: root, depth: 0, where: '' }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, depth, where } = next;
    if (typeof value === 'string') {
      const problem = forbiddenCharacterIn(value);
      if (problem) return { where, problem };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth + 1 > maxDepth) return { where: '', problem: `is nested deeper than ${maxDepth} levels` };
    const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((item: unknown, index) => [index, item]) : Object.entries(value);
    // Pushed last to first, so that the problem reported is the first one in the document.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i];
      const problem = typeof key === 'string' ? forbiddenCharacterIn(key) : undefined;
      if (problem) return { where: where === '' ? 'a key' : `a key of ${where}`, problem };
      pending.push({ value: item, depth: depth + 1, where: childPath(where, key) });
    }
  }
  return undefined;
}

/**
 * Throws an InvalidInput error naming the problem of a parsed JSON value, if it has one:
 * `request body is nested deeper than 32 levels`, `the check: attributes.site contains a NUL byte`.
 */
export function assertSafeJson(value: unknown, maxDepth: number, subject: string): void {
  const found = findJsonProblem(value, maxDepth);
  if (!found) return;
  throw invalidInput(found.where === '' ? `${subject} ${found.problem}` : `${subject}: ${found.where} ${found.problem}`);
}

/** Parses JSON from a device or an operator and applies {@link assertSafeJson}; every failure is an InvalidInput error. */
export function parseSafeJson(text: string, maxDepth: number, subject: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidInput(`${subject} is not valid JSON`);
  }
  assertSafeJson(value, maxDepth, subject);
  return value;
}

function checkPath(rawPath: string): void {
  for (const segment of rawPath.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw invalidInput('the path is not valid percent-encoding (UTF-8)');
    }
    const problem = forbiddenCharacterIn(decoded);
    if (problem) throw invalidInput(`the path ${problem}`);
  }
}

function checkQuery(query: Request['query']): void {
  for (const [name, value] of Object.entries(query)) {
    const nameProblem = forbiddenCharacterIn(name);
    if (nameProblem) throw invalidInput(`a query parameter name ${nameProblem}`);
    for (const item of Array.isArray(value) ? value : [value]) {
      const problem = typeof item === 'string' ? forbiddenCharacterIn(item) : undefined;
      if (problem) throw invalidInput(`query parameter ${childPath('', name)} ${problem}`);
    }
  }
}

/**
 * Express middleware, after the JSON body parser and before routing: applies the rule to the path, the
 * query and a parsed JSON body, so a bad request is refused with a 400 that says why on every route.
 * (GET /package runs ahead of it and applies the same rule in `parseDeviceQuery`.)
 */
export function rejectUnsafeInput(maxJsonDepth: number) {
  return (request: Request, _response: Response, next: NextFunction): void => {
    try {
      checkPath(request.path);
      checkQuery(request.query);
      if (request.body !== undefined) assertSafeJson(request.body, maxJsonDepth, 'request body');
      next();
    } catch (error) {
      next(error);
    }
  };
}
