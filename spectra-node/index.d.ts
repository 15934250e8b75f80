// The public types of spectra-node (`index.js`). Values are plain objects in core's JSON form
// with camelCase keys; sizes are bytes, durations seconds, shares percent.

/** A failure reported by spectra-core. */
export declare class SpectraError extends Error {
  /** `'IO'`, `'NOT_FOUND'`, `'PERMISSION_DENIED'`, `'INVALID_INPUT'`, `'INVALID_PATTERN'`, `'INVALID_DATA'`, `'TOO_LARGE'`, `'UNSUPPORTED'`, `'INVALID_RULE'`, `'TIMEOUT'`, `'CANCELLED'` or `'CALLBACK'`. */
  readonly code: string
  /** The same code as core, the server's JSON and Python name it (`'not_found'`). */
  readonly coreCode: string
  /** The code's number, never reused. */
  readonly number: number
  readonly path?: string
  readonly line?: number
  readonly column?: number
  /** For I/O errors, Node's negative errno (`-2`) and its name (`'ENOENT'`), as `fs` errors carry. */
  readonly errno?: number
  readonly osCode?: string
}

export interface ErrorCodeEntry {
  code: string
  coreCode: string
  number: number
}
export declare const errorCodes: readonly ErrorCodeEntry[]
export declare const version: string

export interface Progress {
  entries: number
  bytes: number
  errors: number
  currentPath: string | null
}

/** Core's `ScanSettings` (every option of a scan, as the CLI's flags); left out, core's default. */
export interface ScanOptions {
  top?: number
  topExtensions?: number
  exclude?: string[]
  oneFileSystem?: boolean
  apparentSize?: boolean
  threads?: number
  maxDepth?: number
  followSymlinks?: boolean
  /** Count every hard link of a file, not only the first seen. */
  countLinks?: boolean
  /** Which walker reads the tree. */
  walker?: 'native' | 'portable'
}

export interface Timestamp {
  secs: number
  nanos: number
}

export interface ScanTotals {
  files: number
  dirs: number
  symlinks: number
  others: number
  apparentBytes: number
  diskBytes: number
  hardLinksSkipped: number
}

export interface ScanReport {
  roots: string[]
  sizeMode: 'disk' | 'apparent'
  totals: ScanTotals
  largestFiles: { path: string; apparentBytes: number; diskBytes: number }[]
  largestDirs: { path: string; apparentBytes: number; diskBytes: number }[]
  extensions: { name: string; count: number; bytes: number }[]
  owners: { uid: number | null; user: string | null; count: number; bytes: number }[]
  partial: boolean
  /** Which walker produced the report (`SPECTRA_BACKEND` chooses; native on Linux). */
  backend: 'native' | 'portable'
  /** True where the platform reports no allocated blocks (Windows). */
  diskBytesAreApparent: boolean
  cancelled: boolean
  durationSecs: number
  [field: string]: unknown
}

export interface FileEntry {
  path: string
  kind: 'file' | 'dir' | 'symlink' | 'other'
  size: number
  diskSize: number
  mtime: Timestamp | null
  atime: Timestamp | null
  /** `null` where the platform has no Unix owners (Windows). */
  uid: number | null
  gid: number | null
  depth: number
  [field: string]: unknown
}

export declare function scan(
  path: string,
  options?: ScanOptions & { signal?: AbortSignal; onProgress?: (progress: Progress) => void },
): Promise<ScanReport>
export declare function scanSync(path: string, options?: ScanOptions): ScanReport
export declare function iterFiles(
  path: string,
  options?: Omit<ScanOptions, 'top' | 'apparentSize'>,
): AsyncGenerator<FileEntry, void, undefined>

/** A collector's sample: its fields in camelCase (see the collectors' documentation). */
export type Sample = Record<string, any>
export interface Capability {
  name: string
  intervalSecs: number
  supported: boolean
  reason: { code: string; number?: number; message: string } | null
  backend: 'native' | 'portable' | null
}

export declare function collect(name: string, options?: { top?: number }): Promise<Sample>
export declare function collectors(): Promise<Capability[]>
/** One field of core's metric schema. `name` is the schema's (`cpu.total.usage_percent`). */
export interface MetricField {
  name: string
  unit:
    | 'percent' | 'ratio' | 'bytes' | 'bytes_per_second' | 'seconds' | 'milliseconds' | 'count'
    | 'per_second' | 'celsius' | 'megahertz' | 'dbm' | 'megabits_per_second' | 'number'
    | 'boolean' | 'text' | 'timestamp'
  kind: 'gauge' | 'counter'
  full?: any
  sender: string
  help: string
}
/** Core's metric schema: every field of every collector's sample. */
export declare function metricFields(): MetricField[]
/** A field by the schema's name or Node's camelCase spelling (`cpu.total.usagePercent`). */
export declare function metricField(name: string): MetricField | null
export declare function cpu(): Promise<Sample>
export declare function memory(): Promise<Sample>
export declare function disks(): Promise<Sample>
export declare function diskIo(): Promise<Sample>
export declare function network(): Promise<Sample>
export declare function processes(options?: { top?: number }): Promise<Sample>
export declare function services(): Promise<Sample>
export declare function temperatures(): Promise<Sample>
export declare function wifi(): Promise<Sample>
export declare function containers(): Promise<Sample>
export declare function system(): Promise<Sample>
export declare function applications(): Promise<Sample>
export declare function raspberryPi(): Promise<Sample>
export declare function observe(
  name: string,
  intervalMs: number,
  callback: (error: SpectraError | null, data: Sample | undefined) => void,
): () => void

export interface DiagnosticOptions {
  /** The probe timeout in seconds (core's default when left out). */
  timeout?: number
  signal?: AbortSignal
}
export declare function ping(host: string, options?: DiagnosticOptions & { count?: number }): Promise<any>
export declare function tcpConnect(host: string, port: number, options?: DiagnosticOptions): Promise<any>
export declare function traceroute(host: string, options?: DiagnosticOptions & { maxHops?: number }): Promise<any>
export declare function netstat(options?: DiagnosticOptions): Promise<any>
export declare function mounts(options?: DiagnosticOptions): Promise<any>
export declare function logs(
  options?: DiagnosticOptions & { severity?: 'emerg' | 'alert' | 'crit' | 'err' | 'warning' | 'notice' | 'info' | 'debug'; lines?: number },
): Promise<any>
export declare function diskUsage(path: string, options?: DiagnosticOptions & { top?: number }): Promise<ScanReport>

export interface Policy {
  name: string
  description: string
  rules: string[]
  action: { type: string; [field: string]: unknown }
  scope: string[]
  limits: Record<string, number | boolean>
}
export interface Plan {
  id: string
  totalBytes: number
  scannedBytes: number
  files: { path: string; size: number; diskSize: number; uid: number | null; gid: number | null; [field: string]: unknown }[]
  [field: string]: unknown
}
export interface ActionProgress {
  action: 'enforce' | 'restore' | 'purge'
  handled: number
  total: number | null
  currentPath: string
}
export declare function parsePolicy(toml: string): Policy
export declare function plan(
  policy: Policy | string,
  path: string,
  options?: { stateDir?: string; exclude?: string[]; oneFileSystem?: boolean; signal?: AbortSignal },
): Promise<Plan>
export declare function enforce(
  planId: string,
  options?: { stateDir?: string; overrideLimits?: boolean; signal?: AbortSignal; onProgress?: (progress: ActionProgress) => void },
): Promise<{ planId: string; quarantined: any[]; skipped: any[]; [field: string]: unknown }>
export declare function restore(
  planId: string,
  options?: { stateDir?: string; signal?: AbortSignal; onProgress?: (progress: ActionProgress) => void },
): Promise<string[]>

export interface AccessEvent {
  op: 'open' | 'read' | 'write' | 'create' | 'delete' | 'rename' | 'stat' | 'list'
  path: string
  bytes?: number
  uid?: number
  /** Who, by name (else `uid` stands for them). */
  user?: string
  /** The backend; by default the agent's indexed root that holds `path`. */
  backend?: string
}
export interface RecorderOptions {
  /**
   * A JSON-lines file; the local `spectra agent` (`{ agent: true }` for its default socket,
   * or `{ agent: socketPath }`), which forwards events to the server; or a function called
   * on the JavaScript thread with each batch.
   */
  sink: string | { agent: true | string } | ((events: any[]) => void)
  batchSize?: number
  flushIntervalSeconds?: number
  metadataSampleRate?: number
  queueCapacity?: number
}
export declare class Recorder {
  constructor(options: RecorderOptions)
  /** Queues the event without blocking; `false` when the queue was full and it was dropped. */
  record(event: AccessEvent): boolean
  flush(): Promise<null>
  close(): Promise<Record<string, number>>
  readonly stats: Record<string, number>
}
