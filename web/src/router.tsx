import { createBrowserRouter, Navigate, NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from './api/client';
import { SESSION_KEY, SessionContext, useCan, useSessionQuery } from './session';
import { setTheme, storedTheme, type Theme } from './theme';
import { ErrorNote, Loading } from './components/States';
import { LoginPage, SetupPage } from './pages/Login';
import { OverviewPage } from './pages/Overview';
import { AgentPage } from './pages/Agent';
import { AlertsPage } from './pages/Alerts';
import { HealthPage } from './pages/Health';
import { UsersPage } from './pages/Users';
import { AccountPage } from './pages/Account';
import { SettingsPage } from './pages/Settings';

function SignedIn() {
  const session = useSessionQuery();
  const location = useLocation();
  if (session.isPending) return <Loading what="your session" />;
  if (session.isError) return <ErrorNote error={session.error} />;
  if (!session.data) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  return (
    <SessionContext.Provider value={session.data}>
      <Shell />
    </SessionContext.Provider>
  );
}

function ThemeSwitch() {
  const [theme, choose] = useState<Theme>(storedTheme());
  return (
    <label className="theme-switch">
      <span className="visually-hidden">Theme</span>
      <select
        value={theme}
        onChange={(e) => {
          const next = e.target.value as Theme;
          setTheme(next);
          choose(next);
        }}
      >
        <option value="system">System theme</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );
}

function Shell() {
  const isAdmin = useCan('admin');
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const signOut = async () => {
    try {
      await api('DELETE', '/api/v1/session');
    } finally {
      queryClient.clear();
      await queryClient.invalidateQueries({ queryKey: SESSION_KEY });
      navigate('/login');
    }
  };
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="brand" end>
          <img src="/favicon.svg" alt="" width={22} height={22} /> Spectra
        </NavLink>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Fleet
          </NavLink>
          <NavLink to="/alerts">Alerts</NavLink>
          <NavLink to="/health">Server health</NavLink>
          {isAdmin && <NavLink to="/users">Users</NavLink>}
          {isAdmin && <NavLink to="/settings">Settings</NavLink>}
        </nav>
        <div className="topbar-end">
          <ThemeSwitch />
          <NavLink to="/account">Account</NavLink>
          <button type="button" className="link-button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no page here.</p>
    </section>
  );
}

export const router = createBrowserRouter([
  { path: '/login', element: <LoginPage /> },
  { path: '/setup', element: <SetupPage /> },
  {
    element: <SignedIn />,
    children: [
      { path: '/', element: <OverviewPage /> },
      { path: '/agents/:id', element: <AgentPage /> },
      { path: '/alerts', element: <AlertsPage /> },
      { path: '/health', element: <HealthPage /> },
      { path: '/users', element: <UsersPage /> },
      { path: '/settings', element: <SettingsPage /> },
      { path: '/account', element: <AccountPage /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);
