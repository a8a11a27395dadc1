/** The original design's statuses (PRODUCT.md §2), kept by name. */
export const STATUSES = [
  'STARTED',
  'ROWS_CREATED',
  'ROWS_CREATION_FAILURE',
  'REPORT_ARCHIVED',
  'REPORT_ARCHIVING_FAILURE',
  'REPORT_SUBMITTED',
  'REPORT_SUBMISSION_FAILURE',
] as const;
export type Status = (typeof STATUSES)[number];

export type Step = 'rows' | 'submit' | 'archive';
export const STEPS: readonly Step[] = ['rows', 'submit', 'archive'];

export const SUCCESS_STATUS: Readonly<Record<Step, Status>> = {
  rows: 'ROWS_CREATED',
  submit: 'REPORT_SUBMITTED',
  archive: 'REPORT_ARCHIVED',
};
export const FAILURE_STATUS: Readonly<Record<Step, Status>> = {
  rows: 'ROWS_CREATION_FAILURE',
  submit: 'REPORT_SUBMISSION_FAILURE',
  archive: 'REPORT_ARCHIVING_FAILURE',
};

/** Facts recorded in the event's JSONB column. All optional: each step records its own. */
export interface EventFacts {
  attempt?: number;
  durationMs?: number;
  rows?: number;
  bytes?: number;
  sha256?: string;
  remotePath?: string;
  alreadyPresent?: boolean;
  bucket?: string;
  key?: string;
  versionId?: string;
  etag?: string;
  error?: { code?: string; message: string; stack?: string };
  [key: string]: unknown;
}

export interface RunEvent {
  eventId: string;
  processId: string;
  status: Status;
  failureDetails: string | null;
  instanceId: string | null;
  facts: EventFacts;
  createdAt: Date;
}
