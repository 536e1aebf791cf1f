/** The contenders of case 2, shared by the case (which orders rounds) and its worker (which runs one). */
export const CORE_IMPLS = [
  'floodgate-token-bucket-consume',
  'floodgate-token-bucket-decide',
  'floodgate-sliding-log-consume',
  'floodgate-sliding-log-decide',
  'floodgate-fixed-window-consume',
  'floodgate-fixed-window-decide',
  'floodgate-sliding-counter-consume',
  'floodgate-sliding-counter-decide',
  'rate-limiter-flexible',
  'express-rate-limit',
  'reference-clock-and-promise',
  'reference-clock-and-map',
  'reference-clock-map-and-promise',
  'reference-clock-map-fraction-and-promise',
  'reference-log-and-promise',
  'reference-bucket-steps-and-promise',
  'reference-log-steps-and-promise',
] as const;
export type CoreImpl = (typeof CORE_IMPLS)[number];
