/**
 * The README says what the code does: its exit-status table is lib/cli/report.ts's EXIT_STATUSES, `.ci/run` runs
 * the README's test command, and every option the README's examples use exists in the parser's declaration.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { EXIT_STATUSES } from '../lib/cli/report.js'
import { COMMAND_SPECS } from '../lib/cli/commands.js'

const read = async (path: string): Promise<string> => await readFile(fileURLToPath(new URL(`../${path}`, import.meta.url)), 'utf8')

t.test('the exit-status table is the one the CLI prints', async (t) => {
  const readme = await read('README.md')
  const rows = [...readme.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({ status: Number(m[1]), meaning: m[2]!.replace(/`/g, '') }))
  t.same(rows, EXIT_STATUSES.map((e) => ({ status: e.status, meaning: e.meaning })))
})

t.test('.ci/run runs the README\'s test command', async (t) => {
  const readme = await read('README.md')
  const ci = await read('.ci/run')
  const command = /^# 2\..*\n(?:#.*\n)*(.+)$/m.exec(readme)?.[1]
  t.ok(command !== undefined, 'the README has a second command')
  for (const part of command!.split('&&').map((p) => p.trim())) t.ok(ci.includes(part), `.ci/run runs \`${part}\``)
})

t.test('every option in the README\'s examples is declared', async (t) => {
  const readme = await read('README.md')
  const declared = new Set<string>()
  for (const spec of COMMAND_SPECS) for (const option of Object.keys(spec.options)) declared.add(option)
  declared.add('help')
  const used = new Set([...readme.matchAll(/^npx zentorrent .*$/gm)].flatMap((m) => [...m[0].split('#')[0]!.matchAll(/ --([a-z][a-z0-9-]*)/g)].map((o) => o[1]!)))
  t.ok(used.size > 5, `the examples use options (${[...used].join(', ')})`)
  for (const option of used) t.ok(declared.has(option), `--${option} is declared`)
})
