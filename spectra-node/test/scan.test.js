'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const spectra = require('..')
const { tempDir, buildTree, bigDirectory } = require('./helpers')

test('scan finds exactly what the tree holds', async (t) => {
  const root = tempDir(t)
  const truth = buildTree(root)
  const report = await spectra.scan(root, { apparentSize: true, top: 3 })
  assert.equal(report.totals.files, truth.files)
  assert.equal(report.totals.dirs, truth.dirs)
  assert.equal(report.totals.apparentBytes, truth.bytes)
  assert.equal(report.sizeMode, 'apparent')
  assert.equal(report.largestFiles.length, 3)
  assert.equal(path.basename(report.largestFiles[0].path), 'two.log')
  assert.equal(report.partial, false)
  const logs = report.extensions.find((e) => e.name === 'log')
  assert.deepEqual([logs.count, logs.bytes], [2, 3000])
  // The synchronous form agrees.
  const again = spectra.scanSync(root, { apparentSize: true, top: 3 })
  assert.deepEqual(again.totals, report.totals)
})

test('excludes and options reach core', async (t) => {
  const root = tempDir(t)
  const truth = buildTree(root)
  const report = await spectra.scan(root, { apparentSize: true, exclude: ['*.log'] })
  assert.equal(report.totals.files, truth.files - 2)
  assert.equal(report.totals.apparentBytes, truth.bytes - 3000)
  await assert.rejects(spectra.scan(root, { exclude: ['[unclosed'] }), { code: 'INVALID_PATTERN', number: 5 })
  await assert.rejects(spectra.scan(root, { top: 'ten' }), { code: 'INVALID_INPUT' })
})

test('progress arrives, the event loop keeps running, and an AbortSignal cancels', async () => {
  const seen = []
  let ticks = 0
  const timer = setInterval(() => ticks++, 10)
  const controller = new AbortController()
  const started = Date.now()
  const scanning = spectra.scan(bigDirectory(), {
    threads: 1,
    onProgress: (progress) => {
      seen.push(progress)
      if (seen.length === 2) controller.abort()
    },
    signal: controller.signal,
  })
  await assert.rejects(scanning, (error) => {
    assert.ok(error instanceof spectra.SpectraError)
    assert.equal(error.code, 'CANCELLED')
    assert.equal(error.number, 11)
    return true
  })
  clearInterval(timer)
  const elapsed = Date.now() - started
  assert.ok(seen.length >= 2, `progress calls: ${seen.length}`)
  assert.ok(seen[1].entries >= seen[0].entries && seen[0].entries > 0, JSON.stringify(seen))
  assert.equal(typeof seen[0].currentPath, 'string')
  // Two progress intervals (core's default) passed and the 10 ms timer fired during the walk:
  // the walk never held the JavaScript thread. No bound on how fast: that is a benchmark's.
  assert.ok(ticks >= 2, `${ticks} ticks in ${elapsed} ms`)
})

test('a signal aborted before the call cancels it at once', async () => {
  const controller = new AbortController()
  controller.abort()
  await assert.rejects(spectra.scan(bigDirectory(), { signal: controller.signal }), { code: 'CANCELLED' })
})

test('errors carry the core code, the number, the path and Node errno fields', async () => {
  await assert.rejects(spectra.scan('/nonexistent/spectra-node'), (error) => {
    assert.ok(error instanceof spectra.SpectraError)
    assert.equal(error.code, 'NOT_FOUND')
    assert.equal(error.coreCode, 'not_found')
    assert.equal(error.number, 2)
    assert.equal(error.path, '/nonexistent/spectra-node')
    assert.equal(error.errno, -2)
    assert.equal(error.osCode, 'ENOENT')
    return true
  })
  assert.throws(() => spectra.scanSync('/nonexistent/spectra-node'), { code: 'NOT_FOUND' })
  const codes = spectra.errorCodes.map((entry) => entry.number)
  assert.deepEqual(codes, [...codes].sort((a, b) => a - b))
  assert.equal(new Set(spectra.errorCodes.map((e) => e.code)).size, spectra.errorCodes.length)
  assert.deepEqual(
    spectra.errorCodes.find((e) => e.code === 'UNSUPPORTED'),
    { code: 'UNSUPPORTED', coreCode: 'unsupported', number: 8 },
  )
})

test('iterFiles yields every entry as it is found, and stops when left early', async (t) => {
  const root = tempDir(t)
  const truth = buildTree(root)
  const found = new Set()
  let files = 0
  for await (const entry of spectra.iterFiles(root)) {
    found.add(entry.path)
    if (entry.kind === 'file') files += 1
  }
  assert.deepEqual([...found].sort(), [...truth.paths].sort())
  assert.equal(files, truth.files)
  let taken = 0
  for await (const entry of spectra.iterFiles(bigDirectory())) {
    assert.equal(typeof entry.path, 'string')
    if (++taken === 10) break
  }
  assert.equal(taken, 10)
  await assert.rejects(async () => {
    for await (const entry of spectra.iterFiles('/nonexistent/spectra-node')) assert.fail(entry.path)
  }, { code: 'NOT_FOUND' })
})

test('scan() with no options answers as `spectra scan` does: one set of defaults, in core', async (t) => {
  const cli = process.env.SPECTRA_CLI
  assert.ok(cli, 'SPECTRA_CLI names the spectra binary (spectra-node/test.sh sets it)')
  const root = tempDir(t)
  buildTree(root)
  const run = require('node:child_process').spawnSync(cli, ['scan', '--format', 'json', root], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  const fromCli = JSON.parse(run.stdout)
  const fromNode = await spectra.scan(root)
  assert.equal(fromNode.sizeMode, fromCli.size_mode)
  assert.equal(fromNode.largestFiles.length, fromCli.largest_files.length)
  assert.equal(fromNode.largestDirs.length, fromCli.largest_dirs.length)
  assert.equal(fromNode.totals.diskBytes, fromCli.totals.disk_bytes)
  assert.equal(fromNode.totals.files, fromCli.totals.files)
  assert.deepEqual(fromNode.largestFiles.map((f) => f.path), fromCli.largest_files.map((f) => f.path))
})

test('SPECTRA_BACKEND picks the backend and every report says which', async (t) => {
  const { spawnSync } = require('node:child_process')
  const root = tempDir(t)
  buildTree(root)
  const script =
    "const s = require(process.argv[1]); s.scan(process.argv[2]).then(async (r) => " +
    "console.log(JSON.stringify({ backend: r.backend, totals: r.totals, " +
    "collectors: [...new Set((await s.collectors()).map((c) => c.backend))] })))" +
    ".catch((e) => { console.error(e.code + ': ' + e.message); process.exit(3) })"
  const run = (backend) =>
    spawnSync(process.execPath, ['-e', script, path.join(__dirname, '..'), root], {
      env: { ...process.env, SPECTRA_BACKEND: backend },
      encoding: 'utf8',
    })
  const [native, portable] = ['native', 'portable'].map((b) => JSON.parse(run(b).stdout))
  assert.equal(native.backend, 'native')
  assert.equal(portable.backend, 'portable')
  assert.deepEqual(portable.totals, native.totals)
  assert.deepEqual(portable.collectors, ['portable'])
  const bad = run('turbo')
  assert.equal(bad.status, 3)
  assert.match(bad.stderr, /^INVALID_INPUT: /)
  assert.match(bad.stderr, /SPECTRA_BACKEND/)
})

test('every setting gives the scan `spectra scan` gives with the same flags', async (t) => {
  const fs = require('node:fs')
  const cli = process.env.SPECTRA_CLI
  assert.ok(cli, 'SPECTRA_CLI names the spectra binary (spectra-node/test.sh sets it)')
  const every = JSON.parse(
    fs.readFileSync(path.join(__dirname, '../../spectra-core/tests/data/every_scan_setting.json'), 'utf8'),
  )
  const camel = (name) => name.replace(/_([a-z])/g, (_, letter) => letter.toUpperCase())
  const camelized = (value) =>
    Array.isArray(value)
      ? value.map(camelized)
      : value && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelized(v)]))
        : value
  const root = tempDir(t)
  const made = require('node:child_process').spawnSync(
    'sh',
    [path.join(__dirname, '../../spectra-core/tests/data/every_scan_setting_tree.sh'), root],
    { encoding: 'utf8' },
  )
  assert.equal(made.status, 0, made.stderr)
  const run = require('node:child_process').spawnSync(cli, ['scan', root, '--format', 'json', ...every.cli], {
    encoding: 'utf8',
  })
  assert.equal(run.status, 0, run.stderr)
  const fromCli = camelized(JSON.parse(run.stdout))
  // Node's own (camelCase) names for every setting.
  const options = Object.fromEntries(Object.entries(every.settings).map(([k, v]) => [camel(k), v]))
  const fromNode = await spectra.scan(root, options)
  for (const key of every.volatile) {
    delete fromCli[camel(key)]
    delete fromNode[camel(key)]
  }
  assert.deepEqual(fromNode, fromCli)
  assert.equal(fromNode.totals.files, 3)
  assert.equal(fromNode.backend, 'portable')
  assert.deepEqual(spectra.scanSync(root, options).totals, fromCli.totals)
  await assert.rejects(spectra.scan(root, { depth: 2 }), (error) => {
    assert.equal(error.code, 'INVALID_INPUT')
    assert.match(error.message, /unknown field `depth`.*maxDepth|unknown field `depth`.*max_depth/)
    return true
  })
})
