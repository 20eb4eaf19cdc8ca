// /docs/inference's data: how to call the OpenAI-compatible API (the parameters the gateway's own
// parser serves and refuses, the JSON-schema keywords the grammar enforces) and every lexicon.
// Public: nothing here is a member's.
import { SERVED_PARAMETERS, UNSUPPORTED_PARAMETERS } from "@cocore/gateway";
import { ANNOTATION_KEYWORDS, ENFORCED_FORMATS, ENFORCED_KEYWORDS, lexiconDocs, UNENFORCED_KEYWORDS } from "@cocore/protocol";
import type { Route } from "../context.ts";
import { lexiconReference } from "../docs.ts";
import type { InferenceDocs } from "../../web/types.ts";

let reference: InferenceDocs["lexicons"] | undefined;

export const docsRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/docs/inference",
    async handler(c): Promise<InferenceDocs> {
      reference ??= lexiconReference(lexiconDocs);
      return {
        apiBase: c.s.gatewayUrl ?? null,
        served: [...SERVED_PARAMETERS],
        refused: Object.entries(UNSUPPORTED_PARAMETERS).map(([param, code]) => ({ param, code })),
        schemaKeywords: { enforced: [...ENFORCED_KEYWORDS], unenforced: [...UNENFORCED_KEYWORDS], annotations: [...ANNOTATION_KEYWORDS], formats: [...ENFORCED_FORMATS] },
        lexicons: reference,
      };
    },
  },
];
