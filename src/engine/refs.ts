/**
 * `refs` for job maps: source ids of other jobs to NexusCore ids, read from
 * the store's id map (the parent item's target id, written by its `done`).
 * No network.
 */
import type { Store } from '../store/index.js';
import { MissingReferenceError, type Refs } from '../types.js';

export function createRefs(store: Pick<Store, 'refState'>, opts: { dryRun?: boolean } = {}): Refs {
  return {
    id(job, sourceId, field) {
      if (sourceId === null || sourceId === undefined || sourceId === '') return null;
      const s = store.refState(job, String(sourceId));
      if (s.targetId) return s.targetId;
      // In a dry run nothing is sent, so a parent that would be created earlier in the same run stands in as a placeholder.
      if (opts.dryRun && (s.state === 'pending' || s.state === 'inflight')) return `(${job}:${sourceId} once created)`;
      throw new MissingReferenceError(job, String(sourceId), s.state, field);
    },
  };
}
