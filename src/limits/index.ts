export { createWindowLimiter, defaultSafetyMarginMs } from './window-limiter.js';
export type { WindowLimiter, WindowLimiterOptions } from './window-limiter.js';
export { createAdaptiveRate } from './adaptive-rate.js';
export type { AdaptiveRate, AdaptiveOptions, AdaptiveState, AdaptiveStats, ResponseSignal } from './adaptive-rate.js';
export { backoffDelay, retryDelay, scaleBackoff, RETRY_BACKOFF, RATE_LIMIT_BACKOFF, RETRY_AFTER_FLOOR_MS } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { createGate, workspaceGate, releaseWorkspaceGate } from './gate.js';
export type { Gate, GateOptions, GateState, GateStats, Ticket } from './gate.js';
