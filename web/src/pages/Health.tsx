import { useRef } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { ServerHealth } from '../api/types';
import { ago, bytes, dateTime, fixed, seconds } from '../format';
import { ErrorNote, Loading } from '../components/States';

const REFRESH_MS = 5_000;
/// The routes agents upload to: their request rate is the ingest rate.
const INGEST = ['/api/v1/metrics', '/api/v1/ingest', '/api/v1/index', '/api/v1/telemetry'];

export function HealthPage() {
  const previous = useRef<{ at: number; counts: Map<string, number> } | null>(null);
  const health = useQuery({
    queryKey: ['server-health'],
    queryFn: () => api<ServerHealth>('GET', '/api/v1/server-health'),
    refetchInterval: REFRESH_MS,
  });
  if (health.isPending) return <Loading what="server health" />;
  if (health.isError) return <ErrorNote error={health.error} />;
  const data = health.data;
  const at = new Date(data.generated_at).getTime();
  const counts = new Map(data.routes.map((r) => [r.route, r.requests]));
  const before = previous.current;
  const rate = (route: string) => {
    if (!before || at <= before.at) return null;
    return ((counts.get(route) ?? 0) - (before.counts.get(route) ?? 0)) / ((at - before.at) / 1000);
  };
  if (!before || before.at !== at) previous.current = { at, counts };
  const total = data.routes.reduce((sum, r) => sum + r.requests, 0);
  const errors = data.routes.reduce((sum, r) => sum + r.server_errors, 0);
  const uptime = (at - new Date(data.started_at).getTime()) / 1000;
  const ingest = INGEST.map(rate).filter((r): r is number => r !== null);
  return (
    <section className="page">
      <div className="page-head">
        <h1>Server health</h1>
        <p className="muted" aria-live="polite">This replica, updated {ago(data.generated_at)}</p>
      </div>
      <ul className="stat-bar" aria-label="Server at a glance">
        <li><strong>{data.version}</strong> version</li>
        <li><strong>{seconds(uptime)}</strong> up</li>
        <li><strong>{total}</strong> requests</li>
        <li className={errors > 0 ? 'stat-offline' : ''}><strong>{errors}</strong> server errors</li>
        <li><strong>{ingest.length ? `${fixed(ingest.reduce((a, b) => a + b, 0), 1)}/s` : '…'}</strong> uploads</li>
        <li><strong>{data.store.backend}</strong> store, {bytes(data.store.size_bytes)}</li>
        <li><strong>{data.alert_evaluations}</strong> alert evaluations</li>
      </ul>
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">Requests per route</caption>
          <thead>
            <tr>
              <th scope="col">Route</th>
              <th scope="col">Requests</th>
              <th scope="col">Per second</th>
              <th scope="col">4xx</th>
              <th scope="col">5xx</th>
              <th scope="col">p50</th>
              <th scope="col">p95</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            {data.routes.map((r) => {
              const perSecond = rate(r.route);
              return (
                <tr key={r.route}>
                  <td><code>{r.route}</code></td>
                  <td>{r.requests}</td>
                  <td>{perSecond === null ? '…' : `${fixed(perSecond, 2)}/s`}</td>
                  <td>{r.client_errors}</td>
                  <td>{r.server_errors}</td>
                  <td>{fixed(r.p50_ms, 1)} ms</td>
                  <td>{fixed(r.p95_ms, 1)} ms</td>
                  <td>{fixed(r.p99_ms, 1)} ms</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p className="muted">Latencies are exact to within 20 %; the same figures are on <code>/metrics</code> for Prometheus.</p>
      <h2>Replicas</h2>
      <ul className="replicas">
        {data.replicas.map((r) => (
          <li key={r.id}>
            <code>{r.listen}</code> {r.id === data.this_replica ? <strong>(this one)</strong> : null} — version {r.version}, up since{' '}
            {dateTime(r.started_at)}, last seen {ago(r.last_seen)}
          </li>
        ))}
      </ul>
    </section>
  );
}
