import { useMemo, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, withQuery } from '../api/client';
import type { AgentEvent, AgentView, CommandRecord, MetricField, MetricHistory, Page } from '../api/types';
import type { components } from '../api/schema';
import { ago, dateTime, formatValue } from '../format';
import { Chart, type ChartSeries } from '../components/Chart';
import { ConfirmButton } from '../components/ConfirmButton';
import { Empty, ErrorNote, Loading } from '../components/States';
import { useCan } from '../session';
import { REFRESH_MS } from './Overview';

type Latest = components['schemas']['Latest'];
type SnapshotList = components['schemas']['SnapshotList'];

export const RANGES = ['5m', '1h', '6h', '24h', '7d', '30d'] as const;
const TABS = ['charts', 'processes', 'services', 'containers', 'applications', 'events', 'snapshots', 'diagnostics'] as const;
type Tab = (typeof TABS)[number];

/// The metric schema, read once: units for every series the pages show.
export function useMetricFields() {
  return useQuery({
    queryKey: ['metric-fields'],
    queryFn: () => api<Page<MetricField>>('GET', '/api/v1/metric-fields'),
    staleTime: Infinity,
  });
}

function useHistory(agent: string, kind: string, range: string) {
  return useQuery({
    queryKey: ['history', agent, kind, range],
    queryFn: () => api<MetricHistory>('GET', withQuery('/api/v1/metrics/query', { agent, type: kind, from: `-${range}` })),
    refetchInterval: REFRESH_MS,
  });
}

/// The label of a series key such as `usage_percent{mount_point="/"}`: `/`.
function labelOf(field: string): string {
  const inside = field.match(/\{(.*)\}$/)?.[1];
  if (!inside) return field;
  return inside
    .split(',')
    .map((pair) => pair.split('=')[1]?.replace(/^"|"$/g, '') ?? pair)
    .join(' ');
}

function seriesOf(history: MetricHistory | undefined, pick: (field: string) => boolean, name: (field: string) => string): ChartSeries[] {
  return (history?.series ?? [])
    .filter((s) => pick(s.field))
    .map((s) => ({
      label: name(s.field),
      times: s.points.map((p) => new Date(p.t).getTime() / 1000),
      values: s.points.map((p) => p.mean),
    }));
}

function KindCharts({ agent, kind, range, charts }: {
  agent: string;
  kind: string;
  range: string;
  charts: { title: string; pick: (field: string) => boolean; name: (field: string) => string }[];
}) {
  const history = useHistory(agent, kind, range);
  if (history.isPending) return <Loading what={`${kind} history`} />;
  if (history.isError) return <ErrorNote error={history.error} />;
  return (
    <>
      {charts.map((chart) => {
        const series = seriesOf(history.data, chart.pick, chart.name);
        const unit = history.data.series.find((s) => chart.pick(s.field))?.unit;
        if (series.length === 0) return null;
        return <Chart key={chart.title} title={chart.title} unit={unit} series={series} />;
      })}
    </>
  );
}

function Charts({ agent, range }: { agent: string; range: string }) {
  const base = (f: string) => f.split('{')[0] ?? f;
  return (
    <div className="charts">
      <KindCharts agent={agent} kind="cpu" range={range} charts={[
        { title: 'CPU use', pick: (f) => f === 'total.usage_percent', name: () => 'CPU' },
        { title: 'Load', pick: (f) => /^load_(1|5|15)$/.test(f), name: (f) => f.replace('_', ' ') },
      ]} />
      <KindCharts agent={agent} kind="memory" range={range} charts={[
        { title: 'Memory', pick: (f) => f === 'used' || f === 'total' || f === 'swap_used', name: (f) => f.replace('_', ' ') },
      ]} />
      <KindCharts agent={agent} kind="disk" range={range} charts={[
        { title: 'Disk use per mount', pick: (f) => base(f) === 'usage_percent', name: labelOf },
      ]} />
      <KindCharts agent={agent} kind="disk_io" range={range} charts={[
        { title: 'Disk reads', pick: (f) => /read_bytes_per_sec/.test(f), name: labelOf },
        { title: 'Disk writes', pick: (f) => /write_bytes_per_sec/.test(f), name: labelOf },
      ]} />
      <KindCharts agent={agent} kind="network" range={range} charts={[
        { title: 'Network received', pick: (f) => /rx_bytes_per_sec/.test(f), name: labelOf },
        { title: 'Network sent', pick: (f) => /tx_bytes_per_sec/.test(f), name: labelOf },
      ]} />
      <KindCharts agent={agent} kind="temperature" range={range} charts={[
        { title: 'Temperature', pick: (f) => base(f).endsWith('celsius') || base(f) === 'current', name: labelOf },
      ]} />
    </div>
  );
}

/// The rows a tab shows: the first list of records in each envelope, or the envelope itself.
function rowsOf(latest: Latest | undefined): { list: string | null; rows: Record<string, unknown>[] } {
  const rows: Record<string, unknown>[] = [];
  let list: string | null = null;
  for (const item of latest?.items ?? []) {
    const data = item.data as Record<string, unknown> | null;
    if (!data || typeof data !== 'object') continue;
    const listKey = Object.keys(data).find((k) => Array.isArray(data[k]) && (data[k] as unknown[]).every((v) => v && typeof v === 'object'));
    if (listKey) {
      list = listKey;
      rows.push(...(data[listKey] as Record<string, unknown>[]));
    } else {
      rows.push(data);
    }
  }
  return { list, rows };
}

function LatestTable({ agent, kind }: { agent: string; kind: string }) {
  const fields = useMetricFields();
  const latest = useQuery({
    queryKey: ['latest', agent, kind],
    queryFn: () => api<Latest>('GET', withQuery(`/api/v1/agents/${encodeURIComponent(agent)}/latest`, { type: kind })),
    refetchInterval: REFRESH_MS,
  });
  const { list, rows } = useMemo(() => rowsOf(latest.data), [latest.data]);
  if (latest.isPending) return <Loading what={kind} />;
  if (latest.isError) return <ErrorNote error={latest.error} />;
  if (rows.length === 0) return <Empty>This agent has sent no {kind} yet (or its collector is unsupported there).</Empty>;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => typeof r[k] !== 'object' || r[k] === null)))];
  const unitOf = (column: string) =>
    fields.data?.items.find((f) => f.name === (list ? `${kind}.${list}.${column}` : `${kind}.${column}`))?.unit;
  const newest = latest.data.items.map((i) => i.at).sort().at(-1);
  return (
    <>
      <p className="muted">As of {dateTime(newest)}{list ? ` (${list.replace(/_/g, ' ')})` : ''}</p>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c} scope="col">{c.replace(/_/g, ' ')}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={i}>
                {columns.map((c) => {
                  const value = row[c];
                  const unit = unitOf(c);
                  const text = typeof value === 'number' && unit && unit !== 'text' ? formatValue(unit, value) : value === null || value === undefined ? '—' : String(value);
                  return <td key={c}>{text}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Snapshots({ agent }: { agent: string }) {
  const snapshots = useQuery({
    queryKey: ['snapshots', agent],
    queryFn: () => api<SnapshotList>('GET', withQuery('/api/v1/snapshots', { agent, from: '-30d' })),
  });
  if (snapshots.isPending) return <Loading what="snapshots" />;
  if (snapshots.isError) return <ErrorNote error={snapshots.error} />;
  if (snapshots.data.snapshots.length === 0) return <Empty>No snapshot in the last 30 days (the agent's scheduled scans send them).</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Snapshots of the last 30 days</caption>
        <thead>
          <tr><th scope="col">Taken</th><th scope="col">Root</th><th scope="col">Size</th><th scope="col">On disk</th><th scope="col">Files</th><th scope="col">Directories</th></tr>
        </thead>
        <tbody>
          {[...snapshots.data.snapshots].reverse().map((s) => (
            <tr key={s.id}>
              <td>{dateTime(s.taken_at)}{s.partial ? ' (partial)' : ''}</td>
              <td><code>{s.root}</code></td>
              <td>{formatValue('bytes', s.apparent_bytes)}</td>
              <td>{formatValue('bytes', s.disk_bytes)}</td>
              <td>{formatValue('count', s.files)}</td>
              <td>{formatValue('count', s.dirs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Events({ agent }: { agent: string }) {
  const events = useQuery({
    queryKey: ['events', agent],
    queryFn: () => api<AgentEvent[]>('GET', `/api/v1/agents/${encodeURIComponent(agent)}/events`),
  });
  if (events.isPending) return <Loading what="events" />;
  if (events.isError) return <ErrorNote error={events.error} />;
  if (events.data.length === 0) return <Empty>No events.</Empty>;
  return (
    <ol className="events">
      {events.data.map((e, i) => (
        <li key={i}>
          <time dateTime={e.at}>{dateTime(e.at)}</time> <strong>{e.event}</strong> by {e.actor}
          {e.detail && <span className="muted"> — {e.detail}</span>}
        </li>
      ))}
    </ol>
  );
}

const DIAGNOSTICS = ['ping', 'tcp_connect', 'traceroute', 'netstat', 'mounts', 'logs', 'disk_usage'] as const;

function Diagnostics({ agent }: { agent: string }) {
  const canRun = useCan('operator');
  const [kind, setKind] = useState<(typeof DIAGNOSTICS)[number]>('mounts');
  const [host, setHost] = useState('127.0.0.1');
  const [port, setPort] = useState('22');
  const [path, setPath] = useState('/');
  const [commandId, setCommandId] = useState<string | null>(null);
  const run = useMutation({
    mutationFn: () => {
      const args: Record<string, unknown> =
        kind === 'ping' || kind === 'traceroute' ? { host } : kind === 'tcp_connect' ? { host, port: Number(port) } : kind === 'disk_usage' ? { path } : kind === 'logs' ? {} : {};
      const body = kind === 'netstat' || kind === 'mounts' ? { kind } : { kind, args };
      return api<CommandRecord>('POST', `/api/v1/agents/${encodeURIComponent(agent)}/commands`, body);
    },
    onSuccess: (record) => setCommandId(record.id),
  });
  const command = useQuery({
    queryKey: ['command', commandId],
    queryFn: () => api<CommandRecord>('GET', `/api/v1/commands/${commandId}`),
    enabled: commandId !== null,
    refetchInterval: (query) => (query.state.data && ['queued', 'running'].includes(query.state.data.status) ? 1000 : false),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    run.mutate();
  };
  return (
    <div>
      {canRun ? (
        <form className="inline-form" onSubmit={submit} aria-label="Run a diagnostic">
          <label>
            Diagnostic
            <select value={kind} onChange={(e) => setKind(e.target.value as (typeof DIAGNOSTICS)[number])}>
              {DIAGNOSTICS.map((d) => (
                <option key={d} value={d}>{d.replace('_', ' ')}</option>
              ))}
            </select>
          </label>
          {(kind === 'ping' || kind === 'traceroute' || kind === 'tcp_connect') && (
            <label>
              Host
              <input value={host} onChange={(e) => setHost(e.target.value)} required />
            </label>
          )}
          {kind === 'tcp_connect' && (
            <label>
              Port
              <input value={port} inputMode="numeric" onChange={(e) => setPort(e.target.value)} required />
            </label>
          )}
          {kind === 'disk_usage' && (
            <label>
              Path
              <input value={path} onChange={(e) => setPath(e.target.value)} required />
            </label>
          )}
          <button type="submit" className="primary" disabled={run.isPending}>Run</button>
        </form>
      ) : (
        <p className="muted">Operators and admins run diagnostics.</p>
      )}
      {run.isError && <ErrorNote error={run.error} />}
      {command.data && (
        <section className="command-result" aria-live="polite">
          <h3>
            {command.data.diagnostic.kind.replace('_', ' ')}: <span className={`command-${command.data.status}`}>{command.data.status}</span>
          </h3>
          {command.data.result !== null && command.data.result !== undefined && (
            <pre className="output">{JSON.stringify(command.data.result, null, 2)}</pre>
          )}
        </section>
      )}
    </div>
  );
}

export function AgentPage() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const range = RANGES.includes(params.get('range') as (typeof RANGES)[number]) ? (params.get('range') as string) : '1h';
  const tab: Tab = TABS.includes(params.get('tab') as Tab) ? (params.get('tab') as Tab) : 'charts';
  const isAdmin = useCan('admin');
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const agent = useQuery({
    queryKey: ['agent', id],
    queryFn: () => api<AgentView>('GET', `/api/v1/agents/${encodeURIComponent(id)}`),
    refetchInterval: REFRESH_MS,
  });
  const approve = useMutation({
    mutationFn: () => api<AgentView>('POST', `/api/v1/agents/${encodeURIComponent(id)}/approve`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['agent', id] }),
  });
  const deregister = useMutation({
    mutationFn: () => api('DELETE', `/api/v1/agents/${encodeURIComponent(id)}`),
    onSuccess: () => navigate('/'),
  });
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    next.set(key, value);
    setParams(next);
  };
  if (agent.isPending) return <Loading what="the agent" />;
  if (agent.isError) return <ErrorNote error={agent.error} />;
  const a = agent.data;
  return (
    <section className="page">
      <p className="breadcrumb"><Link to="/">Fleet</Link> / {a.hostname}</p>
      <div className="page-head">
        <h1>
          <span className={`status-dot status-${a.status}`} role="img" aria-label={a.status} /> {a.hostname}
        </h1>
        <div className="actions">
          {isAdmin && a.approval === 'pending' && (
            <button type="button" className="primary" onClick={() => approve.mutate()}>Approve</button>
          )}
          {isAdmin && (
            <ConfirmButton question={`Deregister ${a.hostname}? Its token stops working.`} onConfirm={() => deregister.mutate()}>Deregister</ConfirmButton>
          )}
        </div>
      </div>
      {(approve.isError || deregister.isError) && <ErrorNote error={approve.error ?? deregister.error} />}
      <dl className="facts">
        <dt>Status</dt><dd>{a.status}{a.approval === 'pending' ? ', pending approval' : ''}</dd>
        <dt>Last seen</dt><dd>{ago(a.last_seen)}</dd>
        <dt>OS</dt><dd>{a.os}</dd>
        <dt>Agent version</dt><dd>{a.version}</dd>
        <dt>Labels</dt><dd>{Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—'}</dd>
        <dt>Id</dt><dd><code>{a.id}</code></dd>
        <dt>Last snapshot</dt><dd>{dateTime(a.last_snapshot_at)}</dd>
      </dl>
      <div className="tabs" role="tablist" aria-label="Agent views">
        {TABS.map((t) => (
          <Link
            key={t}
            role="tab"
            aria-selected={t === tab}
            className={t === tab ? 'tab active' : 'tab'}
            to={`?${new URLSearchParams({ ...Object.fromEntries(params), tab: t }).toString()}`}
          >
            {t}
          </Link>
        ))}
      </div>
      <div role="tabpanel" aria-label={tab}>
        {tab === 'charts' && (
          <>
            <label className="range-picker">
              Range
              <select value={range} onChange={(e) => set('range', e.target.value)}>
                {RANGES.map((r) => (
                  <option key={r} value={r}>last {r}</option>
                ))}
              </select>
            </label>
            <Charts agent={a.id} range={range} />
          </>
        )}
        {(tab === 'processes' || tab === 'services' || tab === 'containers' || tab === 'applications') && (
          <LatestTable agent={a.id} kind={tab} />
        )}
        {tab === 'events' && <Events agent={a.id} />}
        {tab === 'snapshots' && <Snapshots agent={a.id} />}
        {tab === 'diagnostics' && <Diagnostics agent={a.id} />}
      </div>
    </section>
  );
}
