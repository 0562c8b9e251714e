/** The simulator draws faults and jitter from the project's seeded PRNG. */
export { createRandom, type Random } from '../random.js';
