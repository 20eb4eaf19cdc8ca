// The console API's answers, shared by the server (src/routes) and the browser.
export interface SessionInfo {
  signedIn: boolean;
  did?: string;
  handle?: string;
  /** Set when the exchange's current terms have not been accepted by this member. */
  terms?: TermsInfo;
}

export interface TermsInfo {
  needed: boolean;
  termsVersion: string;
  termsUri: string;
  exchange: string;
  policyUri: string;
  acceptedVersion?: string;
}
