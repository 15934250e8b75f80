import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { AuditEntry, Page, UserRecord } from '../api/types';
import { dateTime } from '../format';
import { ConfirmButton } from '../components/ConfirmButton';
import { Empty, ErrorNote, Loading } from '../components/States';
import { useCan, useSession } from '../session';

const ROLES = ['viewer', 'operator', 'admin'] as const;

function AddUser() {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [role, setRole] = useState<(typeof ROLES)[number]>('viewer');
  const [password, setPassword] = useState('');
  const add = useMutation({
    mutationFn: () => api<UserRecord>('POST', '/api/v1/users', { name, role, password }),
    onSuccess: async () => {
      setName('');
      setPassword('');
      await queryClient.invalidateQueries({ queryKey: ['users'] });
      await queryClient.invalidateQueries({ queryKey: ['audit'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate();
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Add a user">
      <label>Name<input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" required /></label>
      <label>
        Role
        <select value={role} onChange={(e) => setRole(e.target.value as (typeof ROLES)[number])}>
          {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
        </select>
      </label>
      <label>Password<input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" required /></label>
      <button type="submit" className="primary" disabled={add.isPending}>Add user</button>
      {add.isError && <ErrorNote error={add.error} />}
    </form>
  );
}

function Audit() {
  const audit = useQuery({ queryKey: ['audit'], queryFn: () => api<Page<AuditEntry>>('GET', '/api/v1/audit?limit=100') });
  if (audit.isPending) return <Loading what="the audit list" />;
  if (audit.isError) return <ErrorNote error={audit.error} />;
  if (audit.data.items.length === 0) return <Empty>Nothing recorded yet.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Audit list, newest first</caption>
        <thead>
          <tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Whom</th><th scope="col">Detail</th><th scope="col">From</th></tr>
        </thead>
        <tbody>
          {audit.data.items.map((e) => (
            <tr key={e.id}>
              <td>{dateTime(e.at)}</td><td>{e.actor}</td><td>{e.action}</td><td>{e.subject}</td><td>{e.detail || '—'}</td><td>{e.from_addr ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function UsersPage() {
  const isAdmin = useCan('admin');
  const me = useSession();
  const queryClient = useQueryClient();
  const users = useQuery({
    queryKey: ['users'],
    queryFn: () => api<Page<UserRecord>>('GET', '/api/v1/users?limit=1000'),
    enabled: isAdmin,
  });
  const change = useMutation({
    mutationFn: ({ name, body }: { name: string; body: Record<string, unknown> }) =>
      api<UserRecord>('PATCH', `/api/v1/users/${encodeURIComponent(name)}`, body),
    onSettled: async () => {
      await queryClient.invalidateQueries({ queryKey: ['users'] });
      await queryClient.invalidateQueries({ queryKey: ['audit'] });
    },
  });
  const remove = useMutation({
    mutationFn: (name: string) => api('DELETE', `/api/v1/users/${encodeURIComponent(name)}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['users'] }),
  });
  if (!isAdmin) {
    return (
      <section className="page">
        <h1>Users</h1>
        <p>Only admins manage users.</p>
      </section>
    );
  }
  return (
    <section className="page">
      <h1>Users</h1>
      <AddUser />
      {(change.isError || remove.isError) && <ErrorNote error={change.error ?? remove.error} />}
      {users.isPending && <Loading what="users" />}
      {users.isError && <ErrorNote error={users.error} />}
      {users.data && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Created</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              {users.data.items.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}{u.name === me.user ? ' (you)' : ''}</td>
                  <td>
                    <label>
                      <span className="visually-hidden">Role of {u.name}</span>
                      <select value={u.role} onChange={(e) => change.mutate({ name: u.name, body: { role: e.target.value } })}>
                        {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                      </select>
                    </label>
                  </td>
                  <td>{u.disabled ? 'disabled' : 'active'}</td>
                  <td>{dateTime(u.created_at)}</td>
                  <td className="row-actions">
                    <button type="button" onClick={() => change.mutate({ name: u.name, body: { disabled: !u.disabled } })}>
                      {u.disabled ? 'Enable' : 'Disable'}
                    </button>
                    <button
                      type="button"
                      onClick={() => {
                        const password = window.prompt(`New password for ${u.name} (at least 10 characters)`);
                        if (password) change.mutate({ name: u.name, body: { password } });
                      }}
                    >
                      Set password
                    </button>
                    <ConfirmButton question={`Delete ${u.name}?`} onConfirm={() => remove.mutate(u.name)}>Delete</ConfirmButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Audit list</h2>
      <Audit />
    </section>
  );
}
