import { describe, expect, it, afterEach } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { ApiError } from '../api/client';
import { ErrorNote, FieldError } from './States';
import { Sparkline } from './Sparkline';
import { safeNext } from '../pages/Login';
import { align } from './Chart';

afterEach(cleanup);

describe('FieldError', () => {
  it("puts a caret under the server's column and shows the message's first line only", () => {
    const error = new ApiError(400, {
      code: 'invalid_input',
      message: 'condition: column 5: expected a value\n  cpu >\n      ^',
      column: 5,
    });
    render(<FieldError error={error} text="cpu >> 1" />);
    expect(screen.getByRole('alert').querySelector('p')?.textContent).toBe('condition: column 5: expected a value');
    const caret = screen.getByLabelText('at column 5').textContent ?? '';
    const [line, marks] = caret.split('\n');
    expect(line).toBe('cpu >> 1');
    expect(marks).toBe('    ^');
  });

  it('shows no caret without a column', () => {
    render(<FieldError error={new ApiError(400, { code: 'invalid_input', message: 'name: taken' })} text="x" />);
    expect(screen.queryByLabelText(/at column/)).toBeNull();
    expect(screen.getByRole('alert').textContent).toContain('name: taken');
  });
});

describe('ErrorNote', () => {
  it("says the server's message, status and code as text", () => {
    render(<ErrorNote error={new ApiError(403, { code: 'forbidden', message: '<b>no</b>' })} />);
    const note = screen.getByRole('alert');
    expect(note.textContent).toBe('<b>no</b> (403 forbidden)');
    expect(note.querySelector('b')).toBeNull();
  });
});

describe('Sparkline', () => {
  it('draws one path per run of values and leaves gaps open', () => {
    const { container } = render(<Sparkline values={[10, 20, null, 30, 40, 50]} label="cpu" />);
    const paths = [...container.querySelectorAll('path')].map((p) => p.getAttribute('d') ?? '');
    expect(paths).toHaveLength(2);
    expect(paths[0]?.split('L')).toHaveLength(2);
    expect(paths[1]?.split('L')).toHaveLength(3);
  });

  it('says when there is nothing to draw', () => {
    render(<Sparkline values={[null, null]} label="cpu" />);
    expect(screen.getByRole('img', { name: 'cpu' }).textContent).toBe('no data');
  });
});

describe('safeNext', () => {
  it('returns only to pages of this app', () => {
    expect(safeNext('/agents/a?tab=processes')).toBe('/agents/a?tab=processes');
    for (const away of ['//evil.example/', 'https://evil.example/', '/\\evil.example', null, '']) {
      expect(safeNext(away)).toBe('/');
    }
  });
});

describe('align', () => {
  it('puts series with their own times on one time axis', () => {
    const data = align([
      { label: 'a', times: [1, 3], values: [10, 30] },
      { label: 'b', times: [2, 3], values: [20, 31] },
    ]);
    expect(data[0]).toEqual([1, 2, 3]);
    expect(data[1]).toEqual([10, null, 30]);
    expect(data[2]).toEqual([null, 20, 31]);
  });
});
