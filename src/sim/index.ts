/**
 * The NexusCore HTTPS simulator (issue 2): used by tests, the demo and the
 * benchmarks. Imports nothing from engine, store, http, auth or limits, so it
 * judges the runner without sharing its assumptions.
 */
export { startSimulator, mergeFaults, DEFAULT_BRANDS, NO_FAULTS, MAX_BODY_BYTES } from './simulator.js';
export { MAX_IMPORT_RECORDS } from './store.js';
export { createRandom } from './prng.js';
export { ALL_SCOPES, FAULT_KINDS, RESOURCE_TYPES } from './types.js';
export type {
  FaultConfig,
  FaultKind,
  ResourceType,
  SimBrand,
  SimOptions,
  SimRecord,
  SimStats,
  Simulator,
  WindowStat,
} from './types.js';
export { createSimClient } from './client.js';
export type { SimClient, SimRequest, SimResponse } from './client.js';
