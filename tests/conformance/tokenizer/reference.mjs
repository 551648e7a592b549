// Computes the reference ids for the conformance corpus with HF tokenizers
// itself (the `tokenizers` npm package: the Rust library's Node bindings,
// native binary inside the package).
//
//   node reference.mjs NODE_MODULES TOKENIZER_DIR CORPUS.json OUT.json
//
// OUT.json: {"tokenizers_version", "plain": [[ids]], "special": [[ids]],
// "decoded": [text]}: encode(text, add_special_tokens=false / true) and
// decode(special ids, skip_special_tokens=true), one entry per corpus string.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [nodeModules, tokenizerDir, corpusPath, outPath] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(nodeModules), 'noop.js'));
const { Tokenizer } = require('tokenizers');
const version = JSON.parse(readFileSync(path.join(nodeModules, 'tokenizers', 'package.json'), 'utf8')).version;

const tokenizer = Tokenizer.fromFile(path.join(tokenizerDir, 'tokenizer.json'));
const corpus = JSON.parse(readFileSync(corpusPath, 'utf8'));
const plain = [], special = [], decoded = [];
const batch = 512;
for (let i = 0; i < corpus.length; i += batch) {
  const texts = corpus.slice(i, i + batch);
  const withoutSpecial = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
  const withSpecial = await tokenizer.encodeBatch(texts, { addSpecialTokens: true });
  for (const e of withoutSpecial) plain.push(Array.from(e.getIds()));
  const ids = withSpecial.map((e) => Array.from(e.getIds()));
  special.push(...ids);
  decoded.push(...(await tokenizer.decodeBatch(ids, true)));
}
writeFileSync(outPath, JSON.stringify({ tokenizers_version: version, plain, special, decoded }));
console.error(`reference: ${path.basename(tokenizerDir)}: ${corpus.length} strings -> ${outPath}`);
