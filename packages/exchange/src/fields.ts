// Reading fields of record values that passed lexicon validation or not: wrong types read as absent.
export function str(o: unknown, k: string): string | undefined {
  const v = o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined;
  return typeof v === "string" ? v : undefined;
}
export function objOf(o: unknown, k: string): Record<string, unknown> | undefined {
  const v = o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined;
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
export function intOf(o: unknown, k: string): number | undefined {
  const v = o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined;
  return typeof v === "number" && Number.isSafeInteger(v) ? v : undefined;
}
