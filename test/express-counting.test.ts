import { describe } from 'node:test';
import { expressCountingApp } from './helpers/counting-apps.js';
import { countingFailureTests, countingTests } from './helpers/counting-suites.js';
import { expressVersions } from './helpers/http.js';

for (const { name, express } of expressVersions) {
  describe(`${name}: counting only some requests`, () => {
    countingTests(expressCountingApp(express));
    countingFailureTests(expressCountingApp(express));
  });
}
