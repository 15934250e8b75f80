// A small line of recent values (0–100 %), drawn as SVG: a table of a hundred rows needs no
// chart library.
export function Sparkline({ values, label }: { values: (number | null | undefined)[]; label: string }) {
  const width = 96;
  const height = 24;
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const segments: string[] = [];
  let current = '';
  values.forEach((value, index) => {
    if (value === null || value === undefined) {
      if (current) segments.push(current);
      current = '';
      return;
    }
    const x = (index * step).toFixed(1);
    const y = (height - (Math.min(100, Math.max(0, value)) / 100) * (height - 2) - 1).toFixed(1);
    current += `${current ? 'L' : 'M'}${x},${y}`;
  });
  if (current) segments.push(current);
  const known = values.filter((v): v is number => typeof v === 'number');
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      {segments.map((d) => (
        <path key={d} d={d} />
      ))}
      {known.length === 0 && <text x="2" y="16">no data</text>}
    </svg>
  );
}
