'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const spectra = require('..')
const { tempDir } = require('./helpers')

test('a function sink receives every recorded event, on the JavaScript thread', async () => {
  const batches = []
  const recorder = new spectra.Recorder({ sink: (events) => batches.push(events), batchSize: 2 })
  assert.equal(recorder.record({ op: 'read', path: '/data/a', bytes: 10 }), true)
  assert.equal(recorder.record({ op: 'write', path: '/data/b', bytes: 20, uid: 1000 }), true)
  assert.equal(recorder.record({ op: 'read', path: '/data/c' }), true)
  await recorder.flush()
  await new Promise((resolve) => setImmediate(resolve))
  const events = batches.flat()
  assert.deepEqual(events.map((e) => e.path), ['/data/a', '/data/b', '/data/c'])
  assert.deepEqual(events.map((e) => e.op), ['read', 'write', 'read'])
  assert.equal(events[1].uid, 1000)
  const stats = await recorder.close()
  assert.deepEqual([stats.recorded, stats.written, stats.dropped], [3, 3, 0])
  assert.equal(recorder.record({ op: 'read', path: '/data/d' }), false, 'closed')
  assert.throws(() => recorder.record({ op: 'chmod', path: '/x' }), { code: 'INVALID_INPUT' })
})

test('a file sink writes JSON lines; bad options are errors', async (t) => {
  const file = path.join(tempDir(t), 'events.jsonl')
  const recorder = new spectra.Recorder({ sink: file })
  for (let i = 0; i < 100; i++) recorder.record({ op: 'read', path: `/data/${i}`, bytes: i })
  await recorder.close()
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line))
  assert.equal(lines.length, 100)
  assert.equal(lines[99].path, '/data/99')
  assert.throws(() => new spectra.Recorder({ sink: 42 }), TypeError)
  assert.throws(() => new spectra.Recorder({ sink: file, batchSize: 0 }), { code: 'INVALID_INPUT' })
  assert.throws(() => new spectra.Recorder({ sink: '/nonexistent/dir/events.jsonl' }), { code: 'NOT_FOUND' })
})

test('record never blocks: a full queue drops and counts', async () => {
  const recorder = new spectra.Recorder({ sink: () => {}, queueCapacity: 10, batchSize: 1000, flushIntervalSeconds: 60 })
  let accepted = 0
  for (let i = 0; i < 10000; i++) if (recorder.record({ op: 'read', path: `/p/${i}` })) accepted++
  assert.ok(accepted < 10000, `accepted ${accepted}`)
  assert.equal(recorder.stats.dropped + recorder.stats.recorded, 10000, JSON.stringify(recorder.stats))
  assert.equal(recorder.stats.recorded, accepted)
  await recorder.close()
})

test('an agent sink hands JSON lines to the agent socket', async (t) => {
  // The agent's side of this socket (attribution, batching, upload) is tested against a real
  // agent and server in spectra-cli/tests/governance_cli.rs; here, the wire.
  const net = require('node:net')
  const dir = tempDir(t)
  const socket = path.join(dir, 'telemetry.sock')
  assert.throws(() => new spectra.Recorder({ sink: { agent: socket } }), { code: 'NOT_FOUND' })
  assert.throws(() => new spectra.Recorder({ sink: { agent: 42 } }), TypeError)
  let received = ''
  const done = new Promise((resolve) => {
    const server = net.createServer((connection) => {
      connection.setEncoding('utf8')
      connection.on('data', (chunk) => (received += chunk))
      connection.on('end', () => server.close(resolve))
    })
    server.listen(socket)
  })
  await new Promise((resolve) => setImmediate(resolve))
  const recorder = new spectra.Recorder({ sink: { agent: socket }, batchSize: 2 })
  assert.equal(recorder.record({ op: 'read', path: '/data/a.bin', bytes: 10, user: 'ana', backend: 's3_training' }), true)
  assert.equal(recorder.record({ op: 'write', path: '/data/b.bin', uid: 1000 }), true)
  const stats = await recorder.close()
  assert.equal(stats.written, 2)
  await done
  const events = received.trim().split('\n').map((line) => JSON.parse(line))
  assert.deepEqual(events.map((e) => [e.op, e.path]), [['read', '/data/a.bin'], ['write', '/data/b.bin']])
  assert.deepEqual([events[0].user, events[0].backend, events[0].bytes], ['ana', 's3_training', 10])
  assert.equal(events[1].uid, 1000)
})

test('the default agent socket is the agent state directory of core', (t) => {
  const dir = tempDir(t)
  const { spawnSync } = require('node:child_process')
  // In a child: the state directory is read from the environment when the sink connects.
  const child = spawnSync(process.execPath, ['-e', `
    const spectra = require(${JSON.stringify(path.join(__dirname, '..'))})
    try { new spectra.Recorder({ sink: { agent: true } }) } catch (e) { console.log(e.code + ' ' + e.message) }
  `], { env: { ...process.env, SPECTRA_AGENT_STATE_DIR: dir }, encoding: 'utf8' })
  assert.match(child.stdout, new RegExp(`^NOT_FOUND .*${path.join(dir, 'telemetry.sock').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`))
})
