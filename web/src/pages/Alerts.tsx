import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import type { AlertRuleRecord, AlertView, DeliveryAttempt, Page, Silence } from '../api/types';
import { dateTime } from '../format';
import { ConfirmButton } from '../components/ConfirmButton';
import { Empty, ErrorNote, FieldError, Loading } from '../components/States';
import { useCan } from '../session';
import { REFRESH_MS } from './Overview';

const TABS = ['alerts', 'rules', 'silences', 'deliveries'] as const;
type Tab = (typeof TABS)[number];

function useList<T>(path: string, live = true) {
  return useQuery({
    queryKey: ['list', path],
    queryFn: () => api<Page<T>>('GET', path),
    refetchInterval: live ? REFRESH_MS : false,
  });
}

function AlertList() {
  const alerts = useList<AlertView>('/api/v1/alerts?limit=500');
  if (alerts.isPending) return <Loading what="alerts" />;
  if (alerts.isError) return <ErrorNote error={alerts.error} />;
  if (alerts.data.items.length === 0) return <Empty>No alerts: every rule's condition is false.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">State</th>
            <th scope="col">Rule</th>
            <th scope="col">Severity</th>
            <th scope="col">Series</th>
            <th scope="col">Host</th>
            <th scope="col">Value</th>
            <th scope="col">Since</th>
            <th scope="col">Resolved</th>
          </tr>
        </thead>
        <tbody>
          {alerts.data.items.map((a) => (
            <tr key={`${a.rule}\u0000${a.series}`} className={`alert-${a.state}`}>
              <td><span className={`badge badge-${a.state}`}>{a.state}{a.silenced ? ' (silenced)' : ''}</span></td>
              <td>{a.rule}</td>
              <td><span className={`badge severity-${a.severity}`}>{a.severity}</span></td>
              <td><code>{a.series}</code></td>
              <td>{a.agent_id ? <Link to={`/agents/${encodeURIComponent(a.agent_id)}`}>{a.hostname ?? a.agent_id}</Link> : '—'}</td>
              <td>{a.value_text ?? '—'}</td>
              <td>{dateTime(a.since)}</td>
              <td>{dateTime(a.resolved_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface RuleDraft {
  name: string;
  condition: string;
  severity: string;
  cooldown: string;
  notify: string;
}

const EMPTY_RULE: RuleDraft = { name: '', condition: '', severity: 'warning', cooldown: '', notify: '' };

function RuleForm({ editing, onDone }: { editing: RuleDraft | null; onDone: () => void }) {
  const [draft, setDraft] = useState<RuleDraft>(editing ?? EMPTY_RULE);
  const queryClient = useQueryClient();
  const save = useMutation({
    mutationFn: () => {
      const body = {
        name: draft.name,
        condition: draft.condition,
        severity: draft.severity,
        ...(draft.cooldown ? { cooldown: draft.cooldown } : {}),
        notify: draft.notify.split(/[\s,]+/).filter(Boolean),
      };
      return editing
        ? api('PUT', `/api/v1/alert-rules/${encodeURIComponent(editing.name)}`, body)
        : api('POST', '/api/v1/alert-rules', body);
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['list'] });
      onDone();
    },
  });
  const error = save.error;
  const aboutCondition = error instanceof ApiError && error.body.message.startsWith('condition');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const field = (key: keyof RuleDraft) => ({
    value: draft[key],
    onChange: (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value }),
  });
  return (
    <form className="card rule-form" onSubmit={submit} aria-label={editing ? `Edit rule ${editing.name}` : 'New alert rule'}>
      <h2>{editing ? `Edit ${editing.name}` : 'New rule'}</h2>
      <label>
        Name
        <input name="name" {...field('name')} required disabled={!!editing} />
      </label>
      <label>
        Condition
        <input
          name="condition"
          className="mono"
          {...field('condition')}
          placeholder="cpu.total.usage_percent > 90 for 5m"
          aria-invalid={aboutCondition}
          aria-describedby={aboutCondition ? 'condition-error' : undefined}
          required
        />
      </label>
      {aboutCondition && (
        <div id="condition-error">
          <FieldError error={error} text={draft.condition} />
        </div>
      )}
      <label>
        Severity
        <select name="severity" {...field('severity')}>
          <option value="info">info</option>
          <option value="warning">warning</option>
          <option value="critical">critical</option>
        </select>
      </label>
      <label>
        Cooldown (e.g. 15m; empty for the default)
        <input name="cooldown" {...field('cooldown')} />
      </label>
      <label>
        Notify (webhook:URL or email:ADDRESS, separated by spaces)
        <input name="notify" {...field('notify')} />
      </label>
      {error !== null && !aboutCondition && <ErrorNote error={error} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending}>Save rule</button>
        <button type="button" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}

function Rules() {
  const rules = useList<AlertRuleRecord>('/api/v1/alert-rules?limit=1000', false);
  const isAdmin = useCan('admin');
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<RuleDraft | 'new' | null>(null);
  const remove = useMutation({
    mutationFn: (name: string) => api('DELETE', `/api/v1/alert-rules/${encodeURIComponent(name)}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['list'] }),
  });
  return (
    <div>
      {isAdmin && editing === null && (
        <button type="button" className="primary" onClick={() => setEditing('new')}>New rule</button>
      )}
      {editing !== null && <RuleForm editing={editing === 'new' ? null : editing} onDone={() => setEditing(null)} />}
      {remove.isError && <ErrorNote error={remove.error} />}
      {rules.isPending && <Loading what="rules" />}
      {rules.isError && <ErrorNote error={rules.error} />}
      {rules.data && rules.data.items.length === 0 && <Empty>No rules yet.</Empty>}
      {rules.data && rules.data.items.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Condition</th>
                <th scope="col">Severity</th>
                <th scope="col">Notify</th>
                <th scope="col">Changed</th>
                {isAdmin && <th scope="col"><span className="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {rules.data.items.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td>
                  <td><code>{r.condition}</code></td>
                  <td>{r.severity}</td>
                  <td>{r.notify?.join(', ') || '—'}</td>
                  <td>{dateTime(r.updated_at)} by {r.updated_by}</td>
                  {isAdmin && (
                    <td className="row-actions">
                      <button
                        type="button"
                        onClick={() =>
                          setEditing({ name: r.name, condition: r.condition, severity: r.severity ?? 'warning', cooldown: r.cooldown ?? '', notify: (r.notify ?? []).join(' ') })
                        }
                      >
                        Edit
                      </button>
                      <ConfirmButton question={`Delete rule ${r.name}?`} onConfirm={() => remove.mutate(r.name)}>Delete</ConfirmButton>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Silences() {
  const silences = useList<Silence>('/api/v1/silences?limit=1000');
  const canSilence = useCan('operator');
  const queryClient = useQueryClient();
  const [rule, setRule] = useState('');
  const [duration, setDuration] = useState('2h');
  const [reason, setReason] = useState('');
  const add = useMutation({
    mutationFn: () => api('POST', '/api/v1/silences', { rule, duration, reason }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['list'] }),
  });
  const lift = useMutation({
    mutationFn: (id: string) => api('DELETE', `/api/v1/silences/${encodeURIComponent(id)}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['list'] }),
  });
  return (
    <div>
      {canSilence && (
        <form
          className="inline-form"
          aria-label="New silence"
          onSubmit={(e) => {
            e.preventDefault();
            add.mutate();
          }}
        >
          <label>Rule<input value={rule} onChange={(e) => setRule(e.target.value)} required /></label>
          <label>For<input value={duration} onChange={(e) => setDuration(e.target.value)} required /></label>
          <label>Why<input value={reason} onChange={(e) => setReason(e.target.value)} required /></label>
          <button type="submit" className="primary">Silence</button>
        </form>
      )}
      {(add.isError || lift.isError) && <ErrorNote error={add.error ?? lift.error} />}
      {silences.isPending && <Loading what="silences" />}
      {silences.isError && <ErrorNote error={silences.error} />}
      {silences.data && silences.data.items.length === 0 && <Empty>Nothing is silenced.</Empty>}
      {silences.data && silences.data.items.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">What</th>
                <th scope="col">Until</th>
                <th scope="col">Who</th>
                <th scope="col">Why</th>
                {canSilence && <th scope="col"><span className="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {silences.data.items.map((s) => (
                <tr key={s.id}>
                  <td>{s.rule ?? s.agent_id ?? (s.label ? s.label.join('=') : 'everything')}</td>
                  <td>{dateTime(s.ends_at)}</td>
                  <td>{s.created_by}</td>
                  <td>{s.reason}</td>
                  {canSilence && (
                    <td><button type="button" onClick={() => lift.mutate(s.id)}>Lift</button></td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Deliveries() {
  const deliveries = useList<DeliveryAttempt>('/api/v1/alert-deliveries?limit=200');
  if (deliveries.isPending) return <Loading what="the delivery log" />;
  if (deliveries.isError) return <ErrorNote error={deliveries.error} />;
  if (deliveries.data.items.length === 0) return <Empty>No notice has been sent.</Empty>;
  const rows = deliveries.data.items as unknown as Record<string, unknown>[];
  const columns = Object.keys(rows[0] ?? {}).filter((k) => typeof rows[0]?.[k] !== 'object' || rows[0]?.[k] === null);
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>{columns.map((c) => <th key={c} scope="col">{c.replace(/_/g, ' ')}</th>)}</tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>{columns.map((c) => <td key={c}>{row[c] === null || row[c] === undefined ? '—' : String(row[c])}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AlertsPage() {
  const [params] = useSearchParams();
  const tab: Tab = TABS.includes(params.get('tab') as Tab) ? (params.get('tab') as Tab) : 'alerts';
  return (
    <section className="page">
      <h1>Alerts</h1>
      <div className="tabs" role="tablist" aria-label="Alert views">
        {TABS.map((t) => (
          <Link key={t} role="tab" aria-selected={t === tab} className={t === tab ? 'tab active' : 'tab'} to={`?tab=${t}`}>
            {t}
          </Link>
        ))}
      </div>
      <div role="tabpanel" aria-label={tab}>
        {tab === 'alerts' && <AlertList />}
        {tab === 'rules' && <Rules />}
        {tab === 'silences' && <Silences />}
        {tab === 'deliveries' && <Deliveries />}
      </div>
    </section>
  );
}
