/**
 * `npm run docs`: writes the generated reference pages docs/refusal-codes.md and docs/events.md
 * from libs/contracts. docs.unit.spec.ts fails until this has been run after a contract change.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderEvents, renderRefusalCodes, renderTopologyTables, TOPOLOGY_BEGIN, TOPOLOGY_END, withGeneratedSection } from './build';

const ROOT = join(__dirname, '..', '..');
const SUBJECTS_PAGE = join(ROOT, 'docs', 'subjects-and-streams.md');
export const REFUSALS_SOURCE_PATH = join(ROOT, 'libs', 'contracts', 'src', 'refusals.ts');

/** The generated pages (and generated sections): absolute path ⇒ expected content. */
export function generatedDocs(): Record<string, string> {
  return {
    [join(ROOT, 'docs', 'refusal-codes.md')]: renderRefusalCodes(readFileSync(REFUSALS_SOURCE_PATH, 'utf8')),
    [join(ROOT, 'docs', 'events.md')]: renderEvents(),
    // hand-written page with a generated section (stream, object-store and consumer tables)
    [SUBJECTS_PAGE]: withGeneratedSection(readFileSync(SUBJECTS_PAGE, 'utf8'), TOPOLOGY_BEGIN, TOPOLOGY_END, renderTopologyTables()),
  };
}

if (require.main === module) {
  for (const [path, text] of Object.entries(generatedDocs())) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
