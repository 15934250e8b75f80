// Loading, empty and error states, the same on every page.
import { ApiError } from '../api/client';

export function Loading({ what }: { what: string }) {
  return (
    <p className="state loading" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <p className="state empty">{children}</p>;
}

export function ErrorNote({ error }: { error: unknown }) {
  const message =
    error instanceof ApiError
      ? `${error.body.message} (${error.status} ${error.body.code})`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <p className="state error" role="alert">
      {message}
    </p>
  );
}

/// A server error about one field, shown under it: the message and, when the server gave a
/// column, the text with a caret under that column (as the CLI prints it).
export function FieldError({ error, text }: { error: unknown; text?: string }) {
  if (!(error instanceof ApiError)) return error ? <ErrorNote error={error} /> : null;
  const column = error.body.column ?? null;
  const caret = text !== undefined && column !== null && column > 0;
  // The server's message carries the CLI's own caret lines; the page draws its own instead.
  const message = caret ? (error.body.message.split('\n')[0] ?? '') : error.body.message;
  return (
    <div className="field-error" role="alert">
      <p>{message}</p>
      {caret && (
        <pre className="caret" aria-label={`at column ${column}`}>
          {text}
          {'\n'}
          {' '.repeat(column - 1)}^
        </pre>
      )}
    </div>
  );
}
