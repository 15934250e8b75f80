'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const os = require('node:os')
const spectra = require('..')

test('collectors agree with Node\'s os module where they overlap', async () => {
  const [cpu, memory, system] = await Promise.all([spectra.cpu(), spectra.memory(), spectra.system()])
  assert.equal(cpu.coreCount, os.cpus().length)
  assert.equal(cpu.perCore.length, os.cpus().length)
  assert.equal(memory.total, os.totalmem())
  assert.equal(system.hostname, os.hostname())
  assert.ok(memory.available > 0 && memory.available <= memory.total)
})

test('every collector answers or rejects as UNSUPPORTED, as collectors() says', async () => {
  const capabilities = await spectra.collectors()
  const names = capabilities.map((c) => c.name)
  assert.ok(names.includes('cpu') && names.includes('raspberry_pi'), names.join())
  const byFunction = {
    cpu: spectra.cpu, memory: spectra.memory, disk: spectra.disks, disk_io: spectra.diskIo,
    network: spectra.network, processes: spectra.processes, services: spectra.services,
    wifi: spectra.wifi, containers: spectra.containers, system: spectra.system,
    applications: spectra.applications, temperature: spectra.temperatures, raspberry_pi: spectra.raspberryPi,
  }
  assert.deepEqual(Object.keys(byFunction).sort(), [...names].sort(), 'one function per collector')
  for (const capability of capabilities) {
    const sampling = byFunction[capability.name]()
    if (capability.supported) {
      const data = await sampling
      assert.equal(typeof data, 'object', capability.name)
    } else {
      await assert.rejects(sampling, { code: 'UNSUPPORTED', number: 8 }, capability.name)
      assert.equal(capability.reason.code, 'unsupported')
    }
  }
  await assert.rejects(spectra.collect('no-such-collector'), { code: 'INVALID_INPUT' })
})

test('processes honours top', async () => {
  const sample = await spectra.processes({ top: 3 })
  for (const list of [sample.topByCpu, sample.topByMemory]) {
    assert.ok(Array.isArray(list), JSON.stringify(Object.keys(sample)))
    assert.ok(list.length <= 3 && list.length > 0, `${list.length} processes`)
  }
  assert.ok(sample.total > 3)
})

test('observe samples on a timer until unsubscribed', async () => {
  const samples = []
  await new Promise((resolve, reject) => {
    const stop = spectra.observe('memory', 20, (error, data) => {
      if (error) return reject(error)
      samples.push(data)
      if (samples.length === 3) {
        stop()
        resolve()
      }
    })
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(samples.length, 3, 'nothing after unsubscribing')
  assert.ok(samples.every((s) => s.total === os.totalmem()))
  assert.throws(() => spectra.observe('memory', 0, () => {}), RangeError)
})

test('diagnostics run with core defaults and are cancellable', async (t) => {
  // A listener of the test's own: nothing else on the machine is needed.
  const server = require('node:net').createServer((socket) => socket.end())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const port = server.address().port
  const connected = await spectra.tcpConnect('127.0.0.1', port)
  assert.equal(connected.connected, true)
  const refused = await spectra.tcpConnect('127.0.0.1', 1)
  assert.equal(refused.connected, false)
  const mounts = await spectra.mounts()
  assert.ok(JSON.stringify(mounts).includes('"/"'))
  const netstat = await spectra.netstat()
  assert.ok(JSON.stringify(netstat).includes(String(port)), `the test's listener on ${port} is seen`)
  const usage = await spectra.diskUsage(__dirname, { top: 2 })
  assert.ok(usage.totals.files >= 5)
  assert.ok(usage.largestFiles.length <= 2)
  const ping = await spectra.ping('127.0.0.1', { count: 2 })
  assert.deepEqual([ping.transmitted, ping.received], [2, 2])
  const route = await spectra.traceroute('127.0.0.1', { maxHops: 2, timeout: 1 })
  assert.equal(route.reached, true)
  assert.equal(route.hops.at(-1).address, '127.0.0.1')
  const lines = await spectra.logs({ severity: 'err', lines: 5 })
  assert.ok(Array.isArray(lines) && lines.length <= 5, JSON.stringify(lines).slice(0, 200))
  await assert.rejects(spectra.logs({ severity: 'loud' }), { code: 'INVALID_INPUT' })
  await assert.rejects(spectra.ping('127.0.0.1', { timeout: -1 }), { code: 'INVALID_INPUT' })
  const controller = new AbortController()
  controller.abort()
  await assert.rejects(spectra.ping('127.0.0.1', { count: 50, signal: controller.signal }), { code: 'CANCELLED' })
})

test("every number Node returns is a field of core's metric schema, camelCased segment by segment", async () => {
  const schema = new Map(spectra.metricFields().map((field) => [field.name, field]))
  assert.equal(schema.get('cpu.total.usage_percent').unit, 'percent')
  const leaves = (prefix, value) =>
    Array.isArray(value)
      ? value.flatMap((item) => leaves(prefix, item))
      : value && typeof value === 'object'
        ? Object.entries(value).flatMap(([key, item]) => leaves(`${prefix}.${key}`, item))
        : typeof value === 'number' || typeof value === 'boolean'
          ? [prefix]
          : [] // text: names and labels, which core's own test checks
  let checked = 0
  for (const capability of await spectra.collectors()) {
    if (!capability.supported) continue
    const data = await spectra.collect(capability.name)
    for (const name of leaves(capability.name, data)) {
      const field = spectra.metricField(name)
      assert.ok(field, `${name} is not in core's metric schema`)
      assert.ok(schema.has(field.name))
      checked++
    }
  }
  assert.ok(checked > 50, String(checked))
  assert.equal(spectra.metricField('cpu.total.usagePercent').name, 'cpu.total.usage_percent')
  assert.equal(spectra.metricField('cpu.total.usagePercnt'), null)
})
