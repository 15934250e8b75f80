import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { dateTime } from '../format';
import { ConfirmButton } from '../components/ConfirmButton';
import { Empty, ErrorNote, Loading } from '../components/States';
import { useCan } from '../session';

type TokenList = components['schemas']['TokenList'];

/// API tokens for scripts (agents' own tokens are listed, not made, here).
export function SettingsPage() {
  const isAdmin = useCan('admin');
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [issued, setIssued] = useState<string | null>(null);
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: () => api<TokenList>('GET', '/api/v1/tokens'), enabled: isAdmin });
  const create = useMutation({
    mutationFn: () => api<{ token: string }>('POST', '/api/v1/tokens', { name, role }),
    onSuccess: async (answer) => {
      setIssued(answer.token);
      setName('');
      await queryClient.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['tokens'] }),
  });
  if (!isAdmin) return <section className="page"><h1>Settings</h1><p>Only admins change settings.</p></section>;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <section className="page">
      <h1>Settings</h1>
      <h2>API tokens</h2>
      <form className="inline-form" onSubmit={submit} aria-label="New API token">
        <label>Name<input value={name} onChange={(e) => setName(e.target.value)} required /></label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="viewer">viewer</option>
            <option value="operator">operator</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <button type="submit" className="primary">Create token</button>
      </form>
      {issued && (
        <p role="status" className="card">
          Copy this token now; it is not shown again: <code className="secret">{issued}</code>
        </p>
      )}
      {(create.isError || revoke.isError) && <ErrorNote error={create.error ?? revoke.error} />}
      {tokens.isPending && <Loading what="tokens" />}
      {tokens.isError && <ErrorNote error={tokens.error} />}
      {tokens.data && tokens.data.tokens.length === 0 && <Empty>No tokens yet: scripts use one each.</Empty>}
      {tokens.data && tokens.data.tokens.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Agent</th><th scope="col">Created</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              {tokens.data.tokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td><td>{t.role}</td><td>{t.agent_id ?? '—'}</td><td>{dateTime(t.created_at)}</td>
                  <td>
                    <ConfirmButton question={`Revoke ${t.name}?`} onConfirm={() => revoke.mutate(t.id)}>Revoke</ConfirmButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
