import { useState, type FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { api, setCsrfToken } from '../api/client';
import type { SessionView } from '../api/types';
import { SESSION_KEY } from '../session';
import { ErrorNote } from '../components/States';

/// Only this app's own pages: never another site, never `//host`.
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

function useSignedIn() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  return (session: SessionView) => {
    setCsrfToken(session.csrf_token);
    queryClient.setQueryData(SESSION_KEY, session);
    navigate(safeNext(params.get('next')), { replace: true });
  };
}

export function LoginPage() {
  const signedIn = useSignedIn();
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      signedIn(await api<SessionView>('POST', '/api/v1/session', { user, password }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="auth-page" id="main">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Spectra</h1>
        <label>
          User name
          <input name="user" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error !== null && <ErrorNote error={error} />}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

/// The first admin, from the one-time link the server printed (`/setup#TOKEN`).
export function SetupPage() {
  const signedIn = useSignedIn();
  const [token] = useState(() => window.location.hash.replace(/^#/, ''));
  const [user, setUser] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      signedIn(await api<SessionView>('POST', '/api/v1/setup', { token, user, password }));
    } catch (e) {
      setError(e);
    }
  };
  return (
    <main className="auth-page" id="main">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="setup-title">
        <h1 id="setup-title">Create the first admin</h1>
        <p className="muted">This link works once. Later users are added on the Users page or with <code>spectra user add</code>.</p>
        {!token && <p className="state error">The link has no setup token: use the whole link the server printed.</p>}
        <label>
          User name
          <input name="user" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required />
        </label>
        <label>
          Password (at least 10 characters)
          <input
            name="password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error !== null && <ErrorNote error={error} />}
        <button type="submit" className="primary" disabled={!token}>
          Create and sign in
        </button>
      </form>
    </main>
  );
}
