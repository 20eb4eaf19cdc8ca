// Built in by src/build.ts from lexicons/ (the source of truth).
declare module "virtual:lexicons" {
  const lexicons: Array<{ id: string; description?: string; defs: Record<string, Record<string, unknown>> }>;
  export default lexicons;
}
declare module "*.css" {}
