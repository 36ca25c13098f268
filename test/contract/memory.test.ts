// The engine contract, run on the in-memory engine (several engines on one hub form a cluster).
import { MemoryHub, createMemoryEngine } from '../../src/engine/memory.js';
import { runEngineContract } from './engine-contract.js';

runEngineContract('memory', {
  async create(n) {
    const hub = new MemoryHub();
    return Array.from({ length: n }, () => createMemoryEngine({ hub }));
  },
  maxNodes: 8,
  nodeDownWithinMs: 1000,
  presenceWithinMs: 1000,
});
