import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// `npm test` runs without --expose-gc; turning the flag on at run time and fetching `gc` from a
// fresh context is the known way to get it anyway.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Heap in use after full garbage collections, in bytes. */
export function heapAfterGc(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}
