// A small use of every part of the API, type-checked by types.test.js (`tsc --noEmit`).
import * as spectra from '..'

async function main(): Promise<void> {
  const controller = new AbortController()
  const report: spectra.ScanReport = await spectra.scan('/tmp', {
    top: 5,
    exclude: ['*.tmp'],
    signal: controller.signal,
    onProgress: (p: spectra.Progress) => console.log(p.entries, p.bytes, p.currentPath),
  })
  const total: number = report.totals.diskBytes
  for await (const entry of spectra.iterFiles('/tmp', { oneFileSystem: true })) {
    const size: number = entry.size
    console.log(entry.path, entry.kind, size)
  }
  const memory = await spectra.memory()
  const stop: () => void = spectra.observe('cpu', 1000, (error, data) => console.log(error?.code, data))
  stop()
  const capabilities: spectra.Capability[] = await spectra.collectors()
  const policy: spectra.Policy = spectra.parsePolicy('name = "p"\naction = "report"\nrules = ["size > 1GB"]')
  const plan: spectra.Plan = await spectra.plan(policy, '/tmp', { stateDir: '/tmp/state' })
  await spectra.enforce(plan.id, { onProgress: (p) => console.log(p.handled, p.total) })
  const restored: string[] = await spectra.restore(plan.id)
  await spectra.ping('127.0.0.1', { count: 1, timeout: 1 })
  await spectra.logs({ severity: 'err', lines: 10 })
  const recorder = new spectra.Recorder({ sink: (events) => console.log(events.length) })
  const queued: boolean = recorder.record({ op: 'read', path: '/tmp/x', bytes: 1 })
  await recorder.close()
  try {
    spectra.scanSync('/nonexistent')
  } catch (error) {
    if (error instanceof spectra.SpectraError) console.log(error.code, error.number, error.errno)
  }
  console.log(total, memory.total, capabilities.length, restored, queued, spectra.version, spectra.errorCodes[0].code)
}

void main()
