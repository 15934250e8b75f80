// The one way the app talks to the server: same-origin JSON, the session cookie, and the
// session's CSRF token on every request that may change anything. Errors keep the server's
// body (code, message and, for a rule, its column) so pages show the server's own words.
import type { components } from './schema';

export type ErrorBody = components['schemas']['Error'];

export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody;
  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

let csrfToken = '';

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const errorBody =
      parsed && typeof parsed === 'object' && 'message' in parsed
        ? (parsed as ErrorBody)
        : ({ code: 'internal', message: `${response.status} ${response.statusText}` } as ErrorBody);
    throw new ApiError(response.status, errorBody);
  }
  return parsed as T;
}

/// `path?key=value…` without the keys whose value is empty.
export function withQuery(path: string, query: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
