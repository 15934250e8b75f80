import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, setCsrfToken } from '../api/client';
import type { Page, SessionItem, SessionView } from '../api/types';
import { dateTime } from '../format';
import { ErrorNote, Loading } from '../components/States';
import { SESSION_KEY, useSession } from '../session';

export function AccountPage() {
  const me = useSession();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const sessions = useQuery({ queryKey: ['sessions'], queryFn: () => api<Page<SessionItem>>('GET', '/api/v1/account/sessions') });
  const change = useMutation({
    mutationFn: () => api<SessionView>('POST', '/api/v1/account/password', { current_password: current, new_password: next }),
    onSuccess: async (session) => {
      setCsrfToken(session.csrf_token);
      queryClient.setQueryData(SESSION_KEY, session);
      setCurrent('');
      setNext('');
      await queryClient.invalidateQueries({ queryKey: ['sessions'] });
    },
  });
  const everywhere = useMutation({
    mutationFn: () => api('DELETE', '/api/v1/account/sessions'),
    onSuccess: () => {
      queryClient.clear();
      navigate('/login');
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate();
  };
  return (
    <section className="page">
      <h1>Account</h1>
      <p>Signed in as <strong>{me.user}</strong> ({me.role}); this session ends by {dateTime(me.expires_at)} at the latest.</p>
      <form className="card narrow" onSubmit={submit} aria-labelledby="password-title">
        <h2 id="password-title">Change password</h2>
        <label>Current password<input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required /></label>
        <label>New password (at least 10 characters)<input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required /></label>
        {change.isError && <ErrorNote error={change.error} />}
        {change.isSuccess && <p role="status">Password changed; your other sessions have ended.</p>}
        <button type="submit" className="primary" disabled={change.isPending}>Change password</button>
      </form>
      <h2>Sessions</h2>
      {sessions.isPending && <Loading what="sessions" />}
      {sessions.isError && <ErrorNote error={sessions.error} />}
      {sessions.data && (
        <ul className="sessions">
          {sessions.data.items.map((s) => (
            <li key={s.created_at}>
              Signed in {dateTime(s.created_at)} from {s.from_addr ?? 'an unknown address'}, last used {dateTime(s.last_seen)}
              {s.current && <strong> (this browser)</strong>}
            </li>
          ))}
        </ul>
      )}
      <button type="button" className="danger" onClick={() => everywhere.mutate()}>Sign out everywhere</button>
      {everywhere.isError && <ErrorNote error={everywhere.error} />}
    </section>
  );
}
