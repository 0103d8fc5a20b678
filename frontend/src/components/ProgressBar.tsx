export function ProgressBar({
  value,
  label,
  testId,
}: {
  /** 0..1 */
  value: number;
  label?: string;
  testId?: string;
}) {
  const pct = Math.round(Math.min(1, Math.max(0, value)) * 100);
  return (
    <div
      className="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      data-testid={testId}
    >
      <div className="progress__bar" style={{ width: `${pct}%` }} />
      <span className="progress__label">{label ?? `${pct}%`}</span>
    </div>
  );
}
