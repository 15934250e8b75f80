import { describe, expect, it } from 'vitest';
import examples from './format.examples.json';
import { ago, formatValue } from './format';
import type { Unit } from './api/types';

describe('formatValue', () => {
  it('writes every example exactly as core does', () => {
    expect(examples.length).toBeGreaterThan(100);
    const wrong = examples
      .map((e) => ({ ...e, got: formatValue(e.unit as Unit, e.value) }))
      .filter((e) => e.got !== e.text);
    expect(wrong).toEqual([]);
  });

  it('shows a missing value as a dash, not a zero', () => {
    expect(formatValue('percent', null)).toBe('—');
    expect(formatValue('bytes', undefined)).toBe('—');
  });
});

describe('ago', () => {
  it('counts back from now in the largest whole unit', () => {
    const now = Date.parse('2026-12-05T12:00:00Z');
    expect(ago('2026-12-05T11:59:50Z', now)).toBe('10 s ago');
    expect(ago('2026-12-05T11:57:00Z', now)).toBe('3 min ago');
    expect(ago('2026-12-05T09:00:00Z', now)).toBe('3 h ago');
    expect(ago(null, now)).toBe('never');
  });
});
