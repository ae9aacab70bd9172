// Bundles the page into OUT_DIR: index.html, app.js (minified, one file), app.css.
// City outlines come from us-atlas (Census cartographic boundaries, counties at 1:10M): the
// counties named in outlines.json are turned into one GeoJSON feature per city at build time.
//   node dashboard/web/build.mjs OUT_DIR
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: build.mjs OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const require = createRequire(join(here, '..', 'package.json'));
const { feature, merge } = require('topojson-client');
const atlas = JSON.parse(readFileSync(require.resolve('us-atlas/counties-10m.json'), 'utf8'));
const wanted = JSON.parse(readFileSync(join(here, 'outlines.json'), 'utf8'));

const outlines = {};
for (const [city, fips] of Object.entries(wanted)) {
  if (city.startsWith('_')) continue;
  const geoms = atlas.objects.counties.geometries.filter((g) => fips.includes(g.id));
  if (geoms.length !== fips.length) {
    console.error(`outlines.json: ${city}: some of ${fips} are not in us-atlas`);
    process.exit(1);
  }
  // One outline per city: the union of its counties (NYC's five boroughs).
  outlines[city] = { type: 'Feature', properties: { city }, geometry: merge(atlas, geoms) };
}

await build({
  entryPoints: [join(here, 'app.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  outfile: join(out, 'app.js'),
  define: { __OUTLINES__: JSON.stringify(outlines) },
  legalComments: 'eof',
  logLevel: 'warning',
});
await build({
  entryPoints: [join(here, 'app.css')],
  bundle: true,
  minify: true,
  outfile: join(out, 'app.css'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
writeFileSync(join(out, 'outlines.json'), JSON.stringify(Object.keys(outlines)));
