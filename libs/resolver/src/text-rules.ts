// NUL first: PostgreSQL cannot store it in text or jsonb, and a NUL reaching it answered 500.
// Tab, line feed and carriage return stay allowed: free text (an error message, release notes) carries them.
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

/**
 * Why `text` may not come from a device or an operator, or undefined when it may: it holds NUL (U+0000) or
 * another C0 control character other than tab, line feed and carriage return. The answer completes a sentence
 * whose subject is the field: `contains a NUL byte`, `contains the control character U+001B`.
 */
export function forbiddenCharacterIn(text: string): string | undefined {
  const found = FORBIDDEN_CHARACTER.exec(text);
  if (!found) return undefined;
  const code = found[0].charCodeAt(0);
  return code === 0 ? 'contains a NUL byte' : `contains the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
