export {
  ANNOTATION_KEYWORDS,
  ENFORCED_FORMATS,
  ENFORCED_KEYWORDS,
  grammarSchema,
  schemaProblem,
  UNENFORCED_KEYWORDS,
  type GrammarBounds,
  type Schema,
  type SchemaProblem,
} from "./support.ts";
export { jsonTextViolation, schemaViolation } from "./validate.ts";
