import { useMemo, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { createColumnHelper, flexRender, getCoreRowModel, useReactTable, type SortingState } from '@tanstack/react-table';
import { api, withQuery } from '../api/client';
import type { OverviewPage as Overview, OverviewRow } from '../api/types';
import { ago, formatValue } from '../format';
import { Sparkline } from '../components/Sparkline';
import { Empty, ErrorNote, Loading } from '../components/States';

/// How often the open page asks again (the agents' default metric interval is 10–60 s).
export const REFRESH_MS = 10_000;
const PAGE_SIZE = 50;
const FILTERS = ['status', 'os', 'label', 'q', 'sort', 'order', 'cursor'] as const;

const column = createColumnHelper<OverviewRow>();

function StatusDot({ status, approval }: { status: string; approval: string }) {
  const text = approval === 'pending' ? `${status}, pending approval` : status;
  return <span className={`status-dot status-${status}`} role="img" aria-label={text} title={text} />;
}

function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <span className="labels">
      {entries.map(([key, value]) => (
        <Link key={key} className="label-chip" to={`/?label=${encodeURIComponent(`${key}=${value}`)}`}>
          {key}={value}
        </Link>
      ))}
    </span>
  );
}

function UsageCell({ value, title }: { value: number | null | undefined; title?: string }) {
  const width = typeof value === 'number' ? Math.min(100, Math.max(0, value)) : 0;
  const level = width >= 90 ? 'high' : width >= 75 ? 'warn' : 'ok';
  return (
    <span className="usage" title={title}>
      <span className="usage-text">{formatValue('percent', value)}</span>
      {typeof value === 'number' && (
        <meter className={`usage-meter ${level}`} min={0} max={100} value={width} aria-hidden="true" />
      )}
    </span>
  );
}

export function OverviewPage() {
  const [params, setParams] = useSearchParams();
  const query = Object.fromEntries(FILTERS.map((key) => [key, params.get(key) ?? ''])) as Record<
    (typeof FILTERS)[number],
    string
  >;
  const [history, setHistory] = useState<string[]>([]);
  const overview = useQuery({
    queryKey: ['overview', query],
    queryFn: () => api<Overview>('GET', withQuery('/api/v1/overview', { ...query, limit: PAGE_SIZE })),
    refetchInterval: REFRESH_MS,
    placeholderData: keepPreviousData,
  });

  const update = (changes: Partial<Record<(typeof FILTERS)[number], string>>, keepCursor = false) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    if (!keepCursor) {
      next.delete('cursor');
      setHistory([]);
    }
    setParams(next);
  };

  const sorting: SortingState = query.sort ? [{ id: query.sort, desc: query.order === 'desc' }] : [];
  const columns = useMemo(
    () => [
      column.accessor('status', {
        header: 'Status',
        cell: (info) => <StatusDot status={info.getValue()} approval={info.row.original.approval} />,
      }),
      column.accessor('hostname', {
        header: 'Host',
        cell: (info) => <Link to={`/agents/${encodeURIComponent(info.row.original.id)}`}>{info.getValue()}</Link>,
      }),
      column.accessor('labels', { header: 'Labels', enableSorting: false, cell: (info) => <Labels labels={info.getValue()} /> }),
      column.accessor('os', { header: 'OS' }),
      column.accessor('cpu_percent', {
        id: 'cpu',
        header: 'CPU',
        cell: (info) => (
          <span className="cpu-cell">
            <UsageCell value={info.getValue()} />
            <Sparkline values={info.row.original.cpu_trend} label={`CPU over the last hour on ${info.row.original.hostname}`} />
          </span>
        ),
      }),
      column.accessor('memory_percent', { id: 'memory', header: 'Memory', cell: (info) => <UsageCell value={info.getValue()} /> }),
      column.accessor('disk_percent', {
        id: 'disk',
        header: 'Disk',
        cell: (info) => <UsageCell value={info.getValue()} title={info.row.original.disk_mount ?? undefined} />,
      }),
      column.accessor('last_seen', {
        header: 'Last seen',
        cell: (info) => <time dateTime={info.getValue() ?? undefined}>{ago(info.getValue())}</time>,
      }),
    ],
    [],
  );
  const table = useReactTable({
    data: overview.data?.items ?? [],
    columns,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    manualPagination: true,
    manualFiltering: true,
    state: { sorting },
    onSortingChange: (updater) => {
      const next = typeof updater === 'function' ? updater(sorting) : updater;
      const first = next[0];
      update({ sort: first?.id ?? '', order: first?.desc ? 'desc' : '' });
    },
  });

  const submitSearch = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    update({ q: String(data.get('q') ?? '').trim() });
  };

  const data = overview.data;
  return (
    <section className="page">
      <div className="page-head">
        <h1>Fleet</h1>
        {data && (
          <p className="muted" aria-live="polite">
            Updated {new Date(data.generated_at).toLocaleTimeString()}
          </p>
        )}
      </div>
      {data && (
        <ul className="stat-bar" aria-label="Fleet at a glance">
          <li>
            <Link to="/">
              <strong>{data.agents.total}</strong> agents
            </Link>
          </li>
          {(['online', 'stale', 'offline', 'pending'] as const).map((status) => (
            <li key={status} className={`stat-${status}`}>
              <Link to={`/?status=${status}`}>
                <strong>{data.agents[status]}</strong> {status === 'pending' ? 'pending approval' : status}
              </Link>
            </li>
          ))}
          {Object.entries(data.alerts_firing).map(([severity, count]) => (
            <li key={severity} className={`stat-alert-${severity}`}>
              <Link to="/alerts">
                <strong>{count}</strong> {severity} firing
              </Link>
            </li>
          ))}
          {Object.keys(data.alerts_firing).length === 0 && (
            <li className="stat-quiet">
              <Link to="/alerts">no alerts firing</Link>
            </li>
          )}
        </ul>
      )}
      <div className="filters" role="search">
        <form onSubmit={submitSearch}>
          <label>
            <span className="visually-hidden">Search hosts, ids and labels</span>
            <input key={query.q} name="q" type="search" defaultValue={query.q} placeholder="Search hosts, ids, labels" />
          </label>
          <button type="submit">Search</button>
        </form>
        <label>
          Status
          <select value={query.status} onChange={(e) => update({ status: e.target.value })}>
            <option value="">any</option>
            <option value="online">online</option>
            <option value="stale">stale</option>
            <option value="offline">offline</option>
            <option value="pending">pending approval</option>
          </select>
        </label>
        <label>
          OS
          <select value={query.os} onChange={(e) => update({ os: e.target.value })}>
            <option value="">any</option>
            {data?.os_values.map((os) => (
              <option key={os} value={os}>
                {os}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label
          <input
            key={query.label}
            defaultValue={query.label}
            placeholder="key=value"
            list="label-keys"
            onKeyDown={(e) => {
              if (e.key === 'Enter') update({ label: e.currentTarget.value.trim() });
            }}
            onBlur={(e) => {
              if (e.currentTarget.value.trim() !== query.label) update({ label: e.currentTarget.value.trim() });
            }}
          />
        </label>
        <datalist id="label-keys">
          {data?.label_keys.map((key) => <option key={key} value={`${key}=`} />)}
        </datalist>
        {FILTERS.some((key) => key !== 'sort' && key !== 'order' && query[key]) && (
          <Link to="/" className="clear-filters">
            Clear filters
          </Link>
        )}
      </div>
      {overview.isPending && <Loading what="the fleet" />}
      {overview.isError && <ErrorNote error={overview.error} />}
      {data && data.items.length === 0 && (
        <Empty>{data.agents.total === 0 ? 'No agent has enrolled yet: run spectra agent on a host.' : 'No agent matches these filters.'}</Empty>
      )}
      {data && data.items.length > 0 && (
        <div className="table-wrap">
          <table className="fleet-table">
            <caption className="visually-hidden">Agents, {data.total_matching} matching</caption>
            <thead>
              {table.getHeaderGroups().map((group) => (
                <tr key={group.id}>
                  {group.headers.map((header) => {
                    const sorted = header.column.getIsSorted();
                    return (
                      <th
                        key={header.id}
                        scope="col"
                        data-column={header.column.id}
                        aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : 'none'}
                      >
                        {header.column.getCanSort() ? (
                          <button type="button" className="sort" onClick={header.column.getToggleSortingHandler()}>
                            {flexRender(header.column.columnDef.header, header.getContext())}
                            <span aria-hidden="true">{sorted === 'asc' ? ' ▲' : sorted === 'desc' ? ' ▼' : ''}</span>
                          </button>
                        ) : (
                          flexRender(header.column.columnDef.header, header.getContext())
                        )}
                      </th>
                    );
                  })}
                </tr>
              ))}
            </thead>
            <tbody>
              {table.getRowModel().rows.map((row) => (
                <tr key={row.id} data-agent={row.original.id}>
                  {row.getVisibleCells().map((cell) => (
                    <td key={cell.id} data-column={cell.column.id}>
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && (
        <nav className="pager" aria-label="Pages">
          <span className="muted">{data.total_matching} matching</span>
          <button
            type="button"
            disabled={history.length === 0}
            onClick={() => {
              const previous = history[history.length - 1] ?? '';
              setHistory(history.slice(0, -1));
              update({ cursor: previous }, true);
            }}
          >
            Previous
          </button>
          <button
            type="button"
            disabled={!data.next_cursor}
            onClick={() => {
              setHistory([...history, query.cursor]);
              update({ cursor: data.next_cursor ?? '' }, true);
            }}
          >
            Next
          </button>
        </nav>
      )}
    </section>
  );
}
