/**
 * How long a bounded operation may take in a test before the test calls it unbounded. The tests that use it give
 * the operation a timeout of a few hundred ms; without that timeout it would wait forever (a silent tracker, a
 * silent peer) or minutes (a default). Wall time on a loaded CI machine has run 20× a quiet one's (a fuzz file:
 * 38 s against 1.6 s), so a bound of a few times the timeout tells load from a hang only on a quiet machine.
 * Below tap's per-test timeouts of 10 s.
 */
export const HANG_BOUND_MS = 8_000
