// Child process of determinism.int.spec.ts: compiles samples/<set> with the inputs shuffled by a
// seed, writes the pack bytes to <out>, prints one JSON line with the digests.
//   node -r @swc-node/register compile-samples.ts <set> <seed> <out>
import { writeFileSync } from 'node:fs';
import { PIPELINE_VERSION, runPipeline } from '../pipeline';
import { TEST_BUILDER, loadSampleSet, testSetRoot } from './samples';

function shuffle<T>(items: T[], seed: number): T[] {
  // mulberry32: a seeded PRNG, so each child gets a different but reproducible order
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const [set, seed, out] = process.argv.slice(2);
const inputs = shuffle(loadSampleSet(set), Number(seed));
const run = runPipeline(inputs, { tenant: 'acme', snapshotSetRoot: testSetRoot(inputs), pipelineVersion: PIPELINE_VERSION, builder: TEST_BUILDER });
if (!run.result.ok) {
  process.stderr.write(`${run.result.code}: ${run.result.message}\n`);
  process.exit(2);
}
writeFileSync(out, run.result.pack.bytes);
process.stdout.write(
  `${JSON.stringify({
    order: inputs.map((i) => i.name),
    digest: run.result.pack.digest,
    manifestDigest: run.result.pack.manifestDigest,
    evidenceDigest: run.result.evidenceDigest,
    provenanceDigest: run.result.provenanceDigest,
    tz: process.env.TZ,
    lang: process.env.LANG,
  })}\n`,
);
