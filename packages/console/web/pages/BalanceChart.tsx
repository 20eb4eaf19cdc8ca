// The balance over time as a plain SVG step line (no chart library): each movement is a step.
export function BalanceChart(p: { points: Array<{ at: string; balance: number }> }) {
  const pts = p.points;
  if (pts.length < 2) return <p className="muted">The chart appears once your balance has moved.</p>;
  const W = 600, H = 180, PAD = 28;
  const t0 = Date.parse(pts[0]!.at), t1 = Date.parse(pts[pts.length - 1]!.at);
  const values = pts.map((x) => x.balance);
  const lo = Math.min(...values), hi = Math.max(...values);
  const x = (t: number) => PAD + ((t - t0) / Math.max(1, t1 - t0)) * (W - 2 * PAD);
  const y = (v: number) => H - PAD - ((v - lo) / Math.max(1, hi - lo)) * (H - 2 * PAD);
  let d = "";
  pts.forEach((pt, i) => {
    const px = x(Date.parse(pt.at)), py = y(pt.balance);
    d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
  });
  const label = `Balance from ${lo.toLocaleString("en-US")} to ${hi.toLocaleString("en-US")} TOK over ${pts.length} movements; now ${values[values.length - 1]!.toLocaleString("en-US")} TOK.`;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line x1={PAD} y1={H - PAD} x2={W - PAD} y2={H - PAD} stroke="#d0d7de" />
        <line x1={PAD} y1={PAD} x2={PAD} y2={H - PAD} stroke="#d0d7de" />
        <text x={PAD + 4} y={PAD - 8} fontSize="12" fill="#57606a">{hi.toLocaleString("en-US")}</text>
        <text x={PAD + 4} y={H - PAD - 4} fontSize="12" fill="#57606a">{lo.toLocaleString("en-US")}</text>
        <path d={d} fill="none" stroke="#0a5bd3" strokeWidth="2" />
      </svg>
      <figcaption className="muted">{label}</figcaption>
    </figure>
  );
}
