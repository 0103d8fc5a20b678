/** The series colours of the charts, also used for classes (a decision tree's nodes). */
export const PALETTE = [
  "#4f46e5",
  "#dc2626",
  "#059669",
  "#d97706",
  "#0891b2",
  "#9333ea",
  "#db2777",
  "#65a30d",
  "#475569",
  "#ea580c",
];

export function colorAt(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}
