/**
 * Text from a torrent, a tracker or a peer, made safe to print on a terminal.
 *
 * A torrent's name, comment and file paths, a tracker's failure reason and a peer's client name are chosen by
 * whoever made them. Printed raw, `\x1b[2J` clears the user's screen, `\x1b]0;…\x07` retitles the window, a
 * newline forges a line of our output (`done: … verified`), and a right-to-left override makes `exe.txt` read
 * as `txt.exe`. Every such character is shown as a visible escape instead:
 *
 *   C0 controls U+0000–U+001F   \n \r \t for the three common ones, else \xHH (ESC is \x1b)
 *   DEL U+007F, C1 U+0080–U+009F \xHH (U+009B is the one-byte CSI some terminals honour)
 *   bidi controls                \u{HHHH}: U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069
 *   line/paragraph separators    \u{2028} \u{2029} (some terminals and editors break lines at them)
 *
 * Everything else is printed as is, including non-Latin scripts, emoji (and their zero-width joiner) and
 * backslashes. `--json` output is not passed through here: JSON.stringify already escapes C0 controls and a
 * script wants the exact strings.
 */

/** The characters escaped by safeText (see the table above). */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/gu

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeOne (char: string): string {
  const named = NAMED[char]
  if (named !== undefined) return named
  const code = char.codePointAt(0) as number
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`
}

/** `text` with every terminal control, bidi override and line break shown as a visible escape. */
export function safeText (text: string): string {
  UNSAFE.lastIndex = 0
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeOne) : text
}
