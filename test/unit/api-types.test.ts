import assert from 'node:assert/strict';
import { PHASES, SEVERITIES, API_VERSION } from '../../src/api/types.js';

describe('api types', () => {
  it('lists every phase once and orders severities from NONE to CRITICAL', () => {
    assert.equal(new Set(PHASES).size, PHASES.length);
    assert.deepEqual(SEVERITIES, ['NONE', 'MINOR', 'MODERATE', 'SEVERE', 'CRITICAL']);
    assert.equal(API_VERSION, 'modelgate.io/v1alpha1');
  });
});
