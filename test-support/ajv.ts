// The independent validator the structured-output tests judge answers with: ajv (JSON Schema
// 2020-12), with the three formats the grammar enforces defined from RFC 3339 here rather than
// borrowed from the code under test.
import { Ajv2020 } from "ajv/dist/2020.js";

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(z|[+-]\d{2}:\d{2})?$/i;

function date(s: string): boolean {
  const m = DATE.exec(s);
  return !!m && Number(m[2]) >= 1 && Number(m[2]) <= 12 && Number(m[3]) >= 1 && Number(m[3]) <= 31;
}

function time(s: string): boolean {
  const m = TIME.exec(s);
  return !!m && Number(m[1]) <= 23 && Number(m[2]) <= 59 && Number(m[3]) <= 60;
}

export function makeAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false });
  ajv.addFormat("date", date);
  ajv.addFormat("time", time);
  ajv.addFormat("date-time", (s: string) => {
    const parts = s.split(/[Tt ]/);
    return parts.length === 2 && date(parts[0]!) && time(parts[1]!);
  });
  return ajv;
}
