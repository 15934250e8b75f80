// A time chart over uPlot (canvas: thousands of points redraw in a few milliseconds, see
// benches/README.md). Values are formatted by the metric schema's unit.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Unit } from '../api/types';
import { formatValue } from '../format';

export interface ChartSeries {
  label: string;
  /// Unix seconds.
  times: number[];
  values: (number | null)[];
}

const COLOURS = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#e67700', '#0b7285', '#c2255c', '#5c940d'];

/// Series with their own times merged onto one time axis (uPlot wants aligned data).
export function align(series: ChartSeries[]): uPlot.AlignedData {
  const times = [...new Set(series.flatMap((s) => s.times))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const column: (number | null)[] = new Array(times.length).fill(null);
    s.times.forEach((t, i) => {
      const at = index.get(t);
      if (at !== undefined) column[at] = s.values[i] ?? null;
    });
    return column;
  });
  return [times, ...columns] as uPlot.AlignedData;
}

export function Chart({ title, unit, series, height = 180 }: { title: string; unit: Unit | null | undefined; series: ChartSeries[]; height?: number }) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const options: uPlot.Options = {
      width: Math.max(240, element.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: unit === 'percent' ? { y: { range: [0, 100] } } : {},
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.15)' } },
        {
          stroke: 'currentColor',
          grid: { stroke: 'rgba(128,128,128,0.15)' },
          size: 84,
          values: (_u, ticks) => ticks.map((v) => formatValue(unit, v)),
        },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLOURS[i % COLOURS.length],
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => formatValue(unit, v),
        })),
      ],
    };
    plot.current = new uPlot(options, align(series), element);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(240, element.clientWidth), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; new points go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, unit, height]);

  useEffect(() => {
    plot.current?.setData(align(series));
  }, [series]);

  return (
    <figure className="chart" data-points={series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0)}>
      <figcaption>{title}</figcaption>
      <div ref={holder} className="chart-canvas" role="img" aria-label={`${title} chart`} />
    </figure>
  );
}
