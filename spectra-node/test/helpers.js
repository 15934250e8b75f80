'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** A fresh temporary directory, removed when the process exits. */
function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spectra-node-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A tree with known contents: `dirs` directories of `perDir` files each, file i of size
 * (i % 7) * 100 + 1 bytes, plus `a/one.log` (1000 B) and `a/b/two.log` (2000 B).
 * Returns the truth: files, apparent bytes (files and directories, as `du --apparent-size`
 * counts them), file bytes, directories and every path.
 */
function buildTree(root, dirs = 5, perDir = 20) {
  const truth = { files: 0, bytes: 0, dirs: 1, paths: new Set([root]) }
  const add = (file, size) => {
    fs.writeFileSync(file, Buffer.alloc(size, 120))
    truth.files += 1
    truth.bytes += size
    truth.paths.add(file)
  }
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(root, `d${d}`)
    fs.mkdirSync(dir)
    truth.dirs += 1
    truth.paths.add(dir)
    for (let i = 0; i < perDir; i++) add(path.join(dir, `f${i}.bin`), (i % 7) * 100 + 1)
  }
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true })
  truth.dirs += 2
  truth.paths.add(path.join(root, 'a'))
  truth.paths.add(path.join(root, 'a', 'b'))
  add(path.join(root, 'a', 'one.log'), 1000)
  add(path.join(root, 'a', 'b', 'two.log'), 2000)
  truth.fileBytes = truth.bytes
  for (const entry of truth.paths) {
    const stat = fs.statSync(entry)
    if (stat.isDirectory()) truth.bytes += stat.size
  }
  return truth
}

/** A directory large enough that a scan of it takes several progress intervals. */
function bigDirectory() {
  return '/usr'
}

module.exports = { tempDir, buildTree, bigDirectory }
