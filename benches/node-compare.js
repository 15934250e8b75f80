'use strict'
// spectra-node beside its peers, in one run: `scan()` against the `spectra` CLI on the same
// tree (both warm), and collector calls against `systeminformation` for the same data.
// Prints one JSON line per comparison with medians in milliseconds and their ratio.
//   node benches/node-compare.js CLI_BINARY TREE [ROUNDS]
const { spawnSync } = require('node:child_process')
const spectra = require('../spectra-node')
const si = require('../spectra-node/node_modules/systeminformation')

const [cli, tree, roundsText] = process.argv.slice(2)
const rounds = Number(roundsText ?? 7)

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

async function timed(call) {
  const started = process.hrtime.bigint()
  await call()
  return Number(process.hrtime.bigint() - started) / 1e6
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Alternates `a` and `b` for `n` rounds after one warm-up call of each, `gapMs` apart
 * (systeminformation answers `processes` and `currentLoad` from its previous call for 500 ms:
 * those are measured 600 ms apart so that each call does the work).
 */
async function sideBySide(name, [aName, a], [bName, b], n = rounds, gapMs = 0) {
  await a()
  await b()
  const times = { [aName]: [], [bName]: [] }
  for (let i = 0; i < n; i++) {
    await pause(gapMs)
    times[aName].push(await timed(a))
    await pause(gapMs)
    times[bName].push(await timed(b))
  }
  const medians = { [aName]: median(times[aName]), [bName]: median(times[bName]) }
  console.log(JSON.stringify({ name, rounds: n, gap_ms: gapMs, median_ms: medians, ratio: medians[aName] / medians[bName] }))
}

async function main() {
  await sideBySide(
    `scan ${tree}`,
    ['spectra-node scan()', () => spectra.scan(tree)],
    ['spectra CLI', () => {
      const run = spawnSync(cli, ['scan', '--format', 'json', tree], { stdio: ['ignore', 'ignore', 'inherit'] })
      if (run.status !== 0) throw new Error(`${cli} exited with ${run.status}`)
    }],
  )
  const collectors = [
    ['processes', () => spectra.processes(), () => si.processes(), 600],
    ['disks (fsSize)', () => spectra.disks(), () => si.fsSize()],
    ['memory (mem)', () => spectra.memory(), () => si.mem()],
    ['cpu (currentLoad)', () => spectra.cpu(), () => si.currentLoad(), 600],
    ['network (networkStats)', () => spectra.network(), () => si.networkStats('*')],
    ['system (osInfo)', () => spectra.system(), () => si.osInfo()],
  ]
  for (const [name, ours, theirs, gapMs = 0] of collectors) {
    await sideBySide(name, ['spectra-node', ours], ['systeminformation', theirs], gapMs ? rounds : rounds * 3, gapMs)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
