import t from 'tap'
import { spawn } from 'node:child_process'
import { createRc4, JsRc4, nativeRc4Available, RC4_ENV, rc4Implementation } from '../lib/wire/mse/rc4.js'
import { seededRandomBytes, SPLITS } from './helpers/mse.js'

/** RFC 6229 §2 keystream bytes at the given offsets. */
const RFC6229: Array<{ key: string, at: Record<number, string> }> = [
  {
    key: '0102030405',
    at: {
      0: 'b2396305f03dc027ccc3524a0a1118a8',
      16: '6982944f18fc82d589c403a47a0d0919',
      1008: '45129048e6a0ed0b56b490338f078da5',
      1024: '30abbcc7c20b01609f23ee2d5f6bb7df',
      1520: '3294f744d8f9790507e70f62e5bbceea',
      4096: 'ff25b58995996707e51fbdf08b34d875'
    }
  },
  {
    key: '0102030405060708090a0b0c0d0e0f10',
    at: {
      0: '9ac7cc9a609d1ef7b2932899cde41b97',
      16: '5248c4959014126a6e8a84f11d1a9e1c',
      1008: 'e7a72574f8782ae26aabcf9ebcd66065',
      1024: 'bdf0324e6083dcc6d3cedd3ca8c53c16',
      1520: 'b40110c4190b5622a96116b0017ed297',
      4096: 'a36a4c301ae8ac13610ccbc12256cacc'
    }
  }
]

/** The classic key/plaintext/ciphertext triples (as in the RC4 literature). */
const TRIPLES: Array<[string, string, string]> = [
  ['Key', 'Plaintext', 'bbf316e8d940af0ad3'],
  ['Wiki', 'pedia', '1021bf0420'],
  ['Secret', 'Attack at dawn', '45a01f645fc35b383552544b9bf5']
]

t.test('our RC4 gives the RFC 6229 keystream', async t => {
  for (const { key, at } of RFC6229) {
    const ks = new JsRc4(Buffer.from(key, 'hex')).update(Buffer.alloc(4112))
    for (const [offset, hex] of Object.entries(at)) {
      t.equal(ks.subarray(Number(offset), Number(offset) + 16).toString('hex'), hex, `key ${key}, offset ${offset}`)
    }
  }
})

t.test('our RC4 encrypts the classic triples', async t => {
  for (const [key, plain, cipher] of TRIPLES) {
    t.equal(new JsRc4(Buffer.from(key)).update(Buffer.from(plain)).toString('hex'), cipher, `${key} / ${plain}`)
  }
})

t.test('discard drops that many keystream bytes (MSE drops 1024)', async t => {
  const rc4 = createRc4(Buffer.from('0102030405', 'hex'), { implementation: 'js', discard: 1024 })
  t.equal(rc4.update(Buffer.alloc(16)).toString('hex'), RFC6229[0]!.at[1024])
})

t.test('the keystream is the same whole, byte by byte and in odd chunks; update leaves its input alone', async t => {
  const key = seededRandomBytes(1)(20)
  const data = seededRandomBytes(2)(70_001)
  const whole = new JsRc4(key).update(data)
  t.not(whole.toString('hex'), data.toString('hex'))
  for (const [name, makeSplit] of Object.entries(SPLITS)) {
    const original = Buffer.from(data)
    const rc4 = new JsRc4(key)
    const parts = makeSplit(3)(data).map((p) => rc4.update(p))
    t.same(Buffer.concat(parts), whole, `fed ${name}`)
    t.same(data, original, 'update did not write over its input')
  }
  const copy = Buffer.from(data)
  const out = new JsRc4(key).updateInPlace(copy)
  t.equal(out, copy, 'updateInPlace returns the buffer it was given')
  t.same(copy, whole, 'and wrote the result over it')
  t.same(new JsRc4(key).update(whole), data, 'the same keystream decrypts')
})

t.test('without --openssl-legacy-provider this Node has no RC4, and the JS one is chosen', async t => {
  t.equal(nativeRc4Available(), false, 'Node 20 / OpenSSL 3 refuses rc4 (if this fails, the test runner loads the legacy provider)')
  t.equal(rc4Implementation(), 'js')
  t.equal(createRc4(Buffer.from('k')).implementation, 'js')
  t.throws(() => createRc4(Buffer.from('k'), { implementation: 'native' }), { code: 'BAD_ARGUMENT' })
  t.throws(() => new JsRc4(Buffer.alloc(0)), { code: 'BAD_ARGUMENT' })
})

/** Run a script in a child Node with the legacy provider (native RC4); returns its stdout. */
async function legacyNode (script: string, env: NodeJS.ProcessEnv = {}, stdin: Buffer = Buffer.alloc(0)): Promise<string> {
  const child = spawn(process.execPath, [...process.execArgv, '--openssl-legacy-provider', '--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env }
  })
  child.stdin.end(stdin)
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`child node exited ${String(code)}: ${err}`)
  return out.trim()
}

const MODULE = new URL('../lib/wire/mse/rc4.ts', import.meta.url).href

t.test('with --openssl-legacy-provider native RC4 is probed, chosen, and agrees with ours byte for byte', async t => {
  const key = seededRandomBytes(5)(20)
  const data = seededRandomBytes(6)(100_003)
  const script = `
    import { createRc4, nativeRc4Available, rc4Implementation } from ${JSON.stringify(MODULE)}
    const key = Buffer.from(${JSON.stringify(key.toString('hex'))}, 'hex')
    const rc4 = createRc4(key, { discard: 1024 })
    const out = []
    // the bytes the parent encrypts, from stdin, encrypted here in four odd parts
    const chunks = []
    for await (const c of process.stdin) chunks.push(c)
    const src = Buffer.concat(chunks)
    for (const [a, b] of [[0, 1], [1, 4097], [4097, 60000], [60000, src.length]]) out.push(rc4.update(src.subarray(a, b)))
    console.log(JSON.stringify({ available: nativeRc4Available(), implementation: rc4Implementation(), made: rc4.implementation,
      cipher: Buffer.concat(out).toString('hex') }))`
  const reply = JSON.parse(await legacyNode(script, {}, data)) as { available: boolean, implementation: string, made: string, cipher: string }
  t.equal(reply.available, true, 'native RC4 found')
  t.equal(reply.implementation, 'native')
  t.equal(reply.made, 'native')
  t.equal(reply.cipher, createRc4(key, { implementation: 'js', discard: 1024 }).update(data).toString('hex'), 'native and JS RC4 agree over 100 KB')

  const forced = JSON.parse(await legacyNode(`
    import { createRc4, rc4Implementation } from ${JSON.stringify(MODULE)}
    console.log(JSON.stringify({ implementation: rc4Implementation(), made: createRc4(Buffer.from('k')).implementation }))`,
  { [RC4_ENV]: 'js' })) as { implementation: string, made: string }
  t.same(forced, { implementation: 'js', made: 'js' }, `${RC4_ENV}=js forces ours even where native runs`)
})
