'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const os = require('node:os')
const { Worker } = require('node:worker_threads')

const WORKER = `
const { parentPort } = require('node:worker_threads')
const spectra = require(${JSON.stringify(require.resolve('..'))})
Promise.all([spectra.memory(), spectra.scan(${JSON.stringify(__dirname)}, { apparentSize: true })])
  .then(([memory, report]) => parentPort.postMessage({ total: memory.total, files: report.totals.files }))
  .catch((error) => parentPort.postMessage({ error: error.code ?? String(error) }))
`

function runWorker() {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true })
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

test('the addon loads and works in a Worker, and in two at once', async () => {
  const one = await runWorker()
  assert.equal(one.error, undefined)
  assert.equal(one.total, os.totalmem())
  assert.ok(one.files >= 5)
  const both = await Promise.all([runWorker(), runWorker()])
  assert.deepEqual(both, [one, one])
})
