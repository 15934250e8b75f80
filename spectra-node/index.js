'use strict'
// The JavaScript surface of spectra-node. Everything that does work is in the native addon
// (`native.js` loads it; `src/` is its Rust); this file only adapts it to JavaScript's ways:
// errors become `SpectraError`s, an `AbortSignal` becomes a cancel handle, a walk becomes an
// async iterator, and `observe` repeats a collector on a timer. Options left out are left out
// here too, so that core's defaults apply — the same as the CLI's and Python's.

const native = require('./native.js')

const MARKER = '\u0000spectra-error:'

/** A failure reported by spectra-core: `code` (`'NOT_FOUND'`, `'UNSUPPORTED'`, …), `number`. */
class SpectraError extends Error {
  constructor(body) {
    super(body.message)
    this.name = 'SpectraError'
    for (const key of ['code', 'coreCode', 'number', 'path', 'line', 'column', 'errno', 'osCode']) {
      if (body[key] !== undefined) this[key] = body[key]
    }
  }
}

/** Every error code: `[{ code, coreCode, number }]`, numbers never reused. */
const errorCodes = Object.freeze(native.errorCodes().map((entry) => Object.freeze(entry)))

function converted(error) {
  if (error instanceof Error && typeof error.message === 'string' && error.message.startsWith(MARKER)) {
    return new SpectraError(JSON.parse(error.message.slice(MARKER.length)))
  }
  return error
}

function sync(call) {
  try {
    return call()
  } catch (error) {
    throw converted(error)
  }
}

async function settled(promise) {
  try {
    return await promise
  } catch (error) {
    throw converted(error)
  }
}

/**
 * Runs `start(handle)`, cancelling the handle when `signal` aborts (or has aborted). Bad
 * arguments reject the Promise rather than throw.
 */
function cancellable(signal, start) {
  const handle = new native.CancelHandle()
  const abort = () => handle.cancel()
  if (signal?.aborted) abort()
  else signal?.addEventListener('abort', abort, { once: true })
  let running
  try {
    running = start(handle)
  } catch (error) {
    signal?.removeEventListener('abort', abort)
    return Promise.reject(converted(error))
  }
  return settled(running).finally(() => signal?.removeEventListener('abort', abort))
}

/** `object` without its `undefined` fields, so that core's defaults apply to them. */
function defined(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined))
}

function scan(path, options = {}) {
  const { signal, onProgress, ...scanOptions } = options
  return cancellable(signal, (handle) => native.scan(path, defined(scanOptions), onProgress, handle))
}

function scanSync(path, options = {}) {
  return sync(() => native.scanSync(path, defined(options)))
}

async function* iterFiles(path, options = {}) {
  const walk = sync(() => new native.FileWalk(path, defined(options)))
  let finished = false
  try {
    for (;;) {
      const batch = await settled(walk.next())
      if (batch === null) {
        finished = true
        return
      }
      yield* batch
    }
  } finally {
    // Left early (a `break`, an error): stop the walk.
    if (!finished) await settled(walk.close())
  }
}

function collect(name, options = {}) {
  return cancellable(undefined, () => native.collect(name, options.top))
}

const collectors = () => settled(native.collectors())
const metricFields = () => sync(() => native.metricFields())
const metricField = (name) => sync(() => native.metricField(name))
const cpu = () => collect('cpu')
const memory = () => collect('memory')
const disks = () => collect('disk')
const diskIo = () => collect('disk_io')
const network = () => collect('network')
const processes = (options = {}) => collect('processes', options)
const services = () => collect('services')
const temperatures = () => collect('temperature')
const wifi = () => collect('wifi')
const containers = () => collect('containers')
const system = () => collect('system')
const applications = () => collect('applications')
const raspberryPi = () => collect('raspberry_pi')

/**
 * Samples collector `name` every `intervalMs` and calls `callback(error, data)`; returns a
 * function that stops it. A sample starts only after the previous one finished.
 */
function observe(name, intervalMs, callback) {
  if (!(intervalMs > 0)) throw new RangeError(`observe: intervalMs must be a positive number, got ${intervalMs}`)
  let stopped = false
  let timer = null
  const tick = () => {
    collect(name).then(
      (data) => !stopped && callback(null, data),
      (error) => !stopped && callback(error, undefined),
    ).finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs)
    })
  }
  tick()
  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
  }
}

function diagnose(kind, args, options = {}) {
  const request = args === undefined ? { kind } : { kind, args: defined(args) }
  return cancellable(options.signal, (handle) => native.diagnose(request, options.timeout, handle))
}

const ping = (host, options = {}) => diagnose('ping', { host, count: options.count }, options)
const tcpConnect = (host, port, options = {}) => diagnose('tcp_connect', { host, port }, options)
const traceroute = (host, options = {}) => diagnose('traceroute', { host, max_hops: options.maxHops }, options)
const netstat = (options = {}) => diagnose('netstat', undefined, options)
const mounts = (options = {}) => diagnose('mounts', undefined, options)
const logs = (options = {}) => diagnose('logs', { severity: options.severity, lines: options.lines }, options)
const diskUsage = (path, options = {}) => diagnose('disk_usage', { path, top: options.top }, options)

// The core form of each parsed policy, which `plan` hands back to core unchanged.
const policySources = new WeakMap()

function parsePolicy(toml) {
  const { policy, source } = sync(() => native.parsePolicy(toml))
  policySources.set(policy, source)
  return policy
}

function plan(policy, path, options = {}) {
  const { signal, ...planOptions } = options
  return cancellable(signal, (handle) => {
    const source = typeof policy === 'string' ? native.parsePolicy(policy).source : policySources.get(policy)
    if (source === undefined) throw new TypeError('plan: pass a policy returned by parsePolicy, or its TOML text')
    return native.plan(source, path, defined(planOptions), handle)
  })
}

function enforce(planId, options = {}) {
  const { signal, onProgress, ...enforceOptions } = options
  return cancellable(signal, (handle) => native.enforce(planId, defined(enforceOptions), onProgress, handle))
}

function restore(planId, options = {}) {
  const { signal, onProgress, ...restoreOptions } = options
  return cancellable(signal, (handle) => native.restore(planId, defined(restoreOptions), onProgress, handle))
}

/** Access telemetry: `record()` queues without blocking; a background thread feeds the sink. */
class Recorder {
  #native
  constructor(options) {
    const { sink, ...settings } = options ?? {}
    if (sink !== null && typeof sink === 'object' && 'agent' in sink) {
      if (sink.agent !== true && typeof sink.agent !== 'string') {
        throw new TypeError('Recorder: sink.agent must be true (the default socket) or a socket path')
      }
      const socket = sink.agent === true ? undefined : sink.agent
      this.#native = sync(() => native.NativeRecorder.toAgent(socket, defined(settings)))
      return
    }
    if (typeof sink !== 'string' && typeof sink !== 'function') {
      throw new TypeError(
        'Recorder: sink must be a file path, { agent: true | socketPath }, or a function taking an array of events',
      )
    }
    this.#native = sync(() => new native.NativeRecorder(sink, defined(settings)))
  }
  record(event) {
    return sync(() => this.#native.record(defined(event)))
  }
  flush() {
    return settled(this.#native.flush())
  }
  close() {
    return settled(this.#native.close())
  }
  get stats() {
    return sync(() => this.#native.stats())
  }
}

module.exports = {
  SpectraError,
  errorCodes,
  version: native.version(),
  scan,
  scanSync,
  iterFiles,
  collect,
  collectors,
  metricFields,
  metricField,
  cpu,
  memory,
  disks,
  diskIo,
  network,
  processes,
  services,
  temperatures,
  wifi,
  containers,
  system,
  applications,
  raspberryPi,
  observe,
  ping,
  tcpConnect,
  traceroute,
  netstat,
  mounts,
  logs,
  diskUsage,
  parsePolicy,
  plan,
  enforce,
  restore,
  Recorder,
}
