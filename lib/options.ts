/** Options objects: one helper every stage uses to merge what was given over its named defaults. */

/** The options that were given: an explicit `undefined` does not override a default in a spread. */
export function definedOnly<T extends object> (options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>
}
