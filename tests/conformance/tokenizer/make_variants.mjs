// Writes variants of real tokenizer.json files that exercise components as
// other checkpoints use them (no npm package ships such a file); the
// reference computes their ids like any other file's. From Llama 2's:
//   metaspace_first:  normalizer null, Metaspace(prepend_scheme "first",
//                     split false), Replace/ByteFallback/Fuse/Strip decoder:
//                     the form transformers writes for Llama 2 / Mistral 7B
//                     with legacy=false.
//   metaspace_always: Metaspace(prepend_scheme "always", split true) as
//                     pre-tokenizer and decoder: the older form.
// From Llama 3's:
//   bytelevel_gpt2:   ByteLevel(add_prefix_space, GPT-2's regex) alone as
//                     pre-tokenizer, as GPT-2-style files have it.
//
//   node make_variants.mjs LLAMA2_DIR LLAMA3_DIR OUT_DIR
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [llama2, llama3, outDir] = process.argv.slice(2);
const variants = {
  metaspace_first: (t) => {
    t.normalizer = null;
    t.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
  },
  metaspace_always: (t) => {
    t.normalizer = null;
    t.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
    t.decoder = { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      { type: 'ByteFallback' }, { type: 'Fuse' }] };
  },
  bytelevel_gpt2: (t) => {
    t.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
  },
};
for (const [name, change] of Object.entries(variants)) {
  const source = name.startsWith('bytelevel') ? llama3 : llama2;
  const t = JSON.parse(readFileSync(path.join(source, 'tokenizer.json'), 'utf8'));
  change(t);
  const dir = path.join(outDir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(t));
  copyFileSync(path.join(source, 'tokenizer_config.json'), path.join(dir, 'tokenizer_config.json'));
}
