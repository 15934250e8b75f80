// Values as people read them, exactly as core's `metrics::Unit::format` and `format::bytes` /
// `format::seconds` write them (format.test.ts holds this file to examples core wrote:
// format.examples.json), plus dates and relative times for the pages.
import type { Unit } from './api/types';

/// `value` to `digits` decimals the way Rust's `{:.N}` does. Both round the exact binary
/// value, but on an exact tie Rust takes the even digit and toFixed the larger magnitude.
export function fixed(value: number, digits: number): string {
  const exact = Math.abs(value).toFixed(Math.min(100, digits + 60));
  const point = exact.indexOf('.');
  const tail = exact.slice(point + 1 + digits);
  if (/^50*$/.test(tail)) {
    const kept = exact.slice(0, digits === 0 ? point : point + 1 + digits);
    const lastDigit = Number(kept[kept.length - 1]);
    if (lastDigit % 2 === 0) return `${value < 0 ? '-' : ''}${kept}`;
  }
  return value.toFixed(digits);
}

const BINARY_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

export function bytes(n: number): string {
  const whole = Math.trunc(n);
  if (whole < 1024) return `${whole} B`;
  let value = whole / 1024;
  let unit = 0;
  while (value >= 1024 && unit + 1 < BINARY_UNITS.length) {
    value /= 1024;
    unit += 1;
  }
  return `${fixed(value, 1)} ${BINARY_UNITS[unit]}`;
}

export function seconds(value: number): string {
  const sign = value < 0 ? '-' : '';
  const magnitude = Math.abs(value);
  if (magnitude < 60) return `${sign}${fixed(magnitude, 1)} s`;
  const total = Math.round(magnitude);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  if (days > 0) return `${sign}${days}d ${hours}h`;
  if (hours > 0) return `${sign}${hours}h ${minutes}m`;
  return `${sign}${minutes}m ${secs}s`;
}

function rustFloat(value: number): string {
  // Rust prints whole floats without a fraction ("5"), like JavaScript.
  return String(value);
}

export function formatValue(unit: Unit | null | undefined, value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'inf' : '-inf';
  const wholeBytes = () => (value < 0 ? `-${bytes(Math.abs(value))}` : bytes(value));
  switch (unit) {
    case 'percent':
      return `${fixed(value, 1)} %`;
    case 'ratio':
      return fixed(value, 3);
    case 'bytes':
      return wholeBytes();
    case 'bytes_per_second':
      return `${wholeBytes()}/s`;
    case 'seconds':
      return seconds(value);
    case 'milliseconds':
      return `${fixed(value, 1)} ms`;
    case 'count':
      return Number.isInteger(value) ? fixed(value, 0) : fixed(value, 2);
    case 'number':
      return fixed(value, 2);
    case 'per_second':
      return `${fixed(value, 1)}/s`;
    case 'celsius':
      return `${fixed(value, 1)} °C`;
    case 'megahertz':
      return `${fixed(value, 0)} MHz`;
    case 'dbm':
      return `${fixed(value, 0)} dBm`;
    case 'megabits_per_second':
      return `${fixed(value, 1)} Mbit/s`;
    case 'boolean':
      return String(value !== 0);
    default:
      return rustFloat(value);
  }
}

/// A time as this browser's locale writes it.
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}

/// How long ago `iso` was, in words ("12 s ago", "3 min ago", "never").
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const secs = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return `${Math.floor(secs / 86400)} d ago`;
}
