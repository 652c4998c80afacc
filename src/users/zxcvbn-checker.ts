/**
 * The zxcvbn estimator with its dictionaries, in one module so that
 * passphrase-strength.ts loads it with one dynamic import: its ~1 s of
 * dictionary loading is paid on the first passphrase check only, and a
 * bundle makes it one lazily loaded chunk rather than one per package.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

export function createZxcvbn(): ZxcvbnFactory {
  return new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
}
