'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const spectra = require('..')
const { tempDir, buildTree } = require('./helpers')

const LOGS = 'name = "logs"\naction = "delete"\nrules = ["extension == \'log\'"]\n'

test('parsePolicy checks every rule and says where one is wrong', () => {
  const policy = spectra.parsePolicy(LOGS)
  assert.equal(policy.name, 'logs')
  assert.deepEqual(policy.action, { type: 'delete' })
  assert.throws(
    () => spectra.parsePolicy('name = "p"\naction = "report"\nrules = ["size > 1KB", "size > 10 parsecs"]'),
    (error) => {
      assert.equal(error.code, 'INVALID_RULE')
      assert.equal(error.number, 9)
      assert.deepEqual([error.line, error.column], [2, 11])
      assert.match(error.message, /\^/)
      return true
    },
  )
  assert.throws(() => spectra.parsePolicy('name = '), { code: 'INVALID_DATA' })
})

test('plan, enforce and restore, under the same safety rules as the CLI', async (t) => {
  const root = tempDir(t)
  const state = tempDir(t)
  buildTree(root)
  const plan = await spectra.plan(spectra.parsePolicy(LOGS), root, { stateDir: state })
  assert.equal(plan.files.length, 2)
  assert.equal(plan.totalBytes, 3000)
  assert.equal(plan.id.length, 64)
  assert.ok(fs.existsSync(path.join(state, 'plans', `${plan.id}.json`)))
  assert.ok(fs.existsSync(path.join(root, 'a', 'one.log')), 'a plan changes nothing')
  const progress = []
  const outcome = await spectra.enforce(plan.id, { stateDir: state, onProgress: (p) => progress.push(p) })
  assert.equal(outcome.quarantined.length, 2)
  assert.deepEqual(outcome.skipped, [])
  assert.ok(!fs.existsSync(path.join(root, 'a', 'one.log')))
  const restored = await spectra.restore(plan.id, { stateDir: state })
  assert.deepEqual(restored.map((p) => path.basename(p)).sort(), ['one.log', 'two.log'])
  assert.equal(fs.readFileSync(path.join(root, 'a', 'one.log')).length, 1000)
  // Progress callbacks run on the JavaScript thread after the call returns its result.
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(progress.length, 2)
  assert.equal(progress[1].action, 'enforce')
  await assert.rejects(spectra.enforce('../../etc/passwd', { stateDir: state }), { code: 'INVALID_INPUT' })
  await assert.rejects(spectra.enforce('0'.repeat(64), { stateDir: state }), { code: 'NOT_FOUND' })
  await assert.rejects(spectra.plan({ name: 'made up' }, root), TypeError)
  await assert.rejects(spectra.plan('name = ', root), { code: 'INVALID_DATA' })
})
