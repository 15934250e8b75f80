'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const spectra = require('..')

const root = path.join(__dirname, '..')

test('index.d.ts declares exactly what index.js exports', () => {
  const declarations = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const declared = [...declarations.matchAll(/^export declare (?:function|class|const) (\w+)/gm)].map((m) => m[1])
  assert.deepEqual([...new Set(declared)].sort(), Object.keys(spectra).sort())
})

test('the TypeScript example compiles against the declarations', () => {
  const tsc = path.join(root, 'node_modules', '.bin', 'tsc')
  execFileSync(tsc, ['--noEmit', '--strict', '--target', 'es2022', '--module', 'commonjs', '--types', 'node', path.join(__dirname, 'example.ts')], {
    cwd: root,
    stdio: 'pipe',
  })
})
