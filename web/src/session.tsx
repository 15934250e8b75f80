// Who is signed in. The session lives in an HttpOnly cookie the app cannot read; the server
// tells the app the user, role and CSRF token (GET /api/v1/session).
import { createContext, useContext } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, ApiError, setCsrfToken } from './api/client';
import type { Role, SessionView } from './api/types';

export const SESSION_KEY = ['session'] as const;

export async function fetchSession(): Promise<SessionView | null> {
  try {
    const session = await api<SessionView>('GET', '/api/v1/session');
    setCsrfToken(session.csrf_token);
    return session;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 400)) return null;
    throw error;
  }
}

export function useSessionQuery() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 60_000 });
}

export const SessionContext = createContext<SessionView | null>(null);

export function useSession(): SessionView {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

const RANK: Record<Role, number> = { agent: 0, viewer: 1, operator: 2, admin: 3 };

/// Whether the signed-in user's role reaches `role` (the server checks again on every write).
export function useCan(role: 'viewer' | 'operator' | 'admin'): boolean {
  const session = useContext(SessionContext);
  return !!session && RANK[session.role] >= RANK[role];
}
