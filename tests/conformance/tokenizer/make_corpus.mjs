// Writes the tokenizer conformance corpus: a JSON array of >= 20,000 strings,
// the same on every run (a seeded generator). Many scripts, emoji sequences,
// code, whitespace and digit runs, special-token look-alikes, combining marks
// (NFC matters to Qwen), long inputs.
//
//   node make_corpus.mjs OUT.json [COUNT]
import { writeFileSync } from 'node:fs';

const out = process.argv[2];
const count = Number(process.argv[3] ?? 24000);

// mulberry32: small, seeded, deterministic.
let state = 0x5eed1234;
function random() {
  state = (state + 0x6d2b79f5) | 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(random() * n);
const pick = (list) => list[int(list.length)];
const range = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));

const words = {
  english: ['the', 'The', 'quick', 'brown', 'fox', "don't", "I'm", "they're", "we'll", "she'd", "IT'S", "You've", 'hello', 'world',
    'tokenizer', 'Llama', 'Qwen', 'Mistral', 'a', 'I', 'naïve', 'café', 'résumé', 'coöperate', 'jalapeño', 'Straße', 'façade'],
  french: ['élève', 'garçon', 'où', 'déjà', 'Noël', 'œuvre', 'à', 'très', 'château', 'Ça', 'français'],
  german: ['Übermäßig', 'Größe', 'schön', 'Mädchen', 'Fußball', 'ÄÖÜ'],
  polish: ['Zażółć', 'gęślą', 'jaźń', 'łódź', 'Świat'],
  vietnamese: ['Tiếng', 'Việt', 'người', 'đẹp', 'Hà', 'Nội', 'phở'],
  cyrillic: ['Здравствуй', 'мир', 'привет', 'Москва', 'ёлка', 'Україна', 'їжак', 'Беларусь'],
  greek: ['Καλημέρα', 'κόσμε', 'ΑΒΓΔ', 'ψυχή', 'ς'],
  chinese: ['你好', '世界', '中文', '分词器', '测试', '北京欢迎你', '漢字', '的', '了'],
  japanese: ['こんにちは', 'カタカナ', 'ひらがな', '日本語', '東京', 'ｶﾀｶﾅ', 'ー'],
  korean: ['안녕하세요', '한국어', '세계', '토크나이저'],
  arabic: ['مرحبا', 'بالعالم', 'العربية', 'كتاب', 'السلام عليكم', 'ﷺ', 'لا'],
  hebrew: ['שלום', 'עולם', 'עברית', 'בְּרֵאשִׁית'],
  devanagari: ['नमस्ते', 'दुनिया', 'हिन्दी', 'क्षत्रिय', 'श्री'],
  thai: ['สวัสดี', 'ชาวโลก', 'ภาษาไทย', 'กรุงเทพ'],
  other: ['ሰላም', 'Բարեւ', 'გამარჯობა', 'ᚠᚢᚦ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟙𝟚𝟛', 'ﬁ', 'Ⅻ', '½', '²', 'µ', 'Å', 'K', 'ſ'],
};
const scripts = Object.keys(words);
const emoji = ['🙂', '🚀', '😀', '👍', '👍🏽', '👋🏿', '👨‍👩‍👧‍👦', '👩🏽‍💻', '🏳️‍🌈', '🇫🇷', '🇯🇵', '1️⃣', '#️⃣', '❤️', '🧑‍🤝‍🧑', '🤷‍♀️',
  '😶‍🌫️', '🫠', '🦄', '✨', '☕', '👁️‍🗨️', '🏴󠁧󠁢󠁳󠁣󠁴󠁿'];
const specials = ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>',
  '<|eom_id|>', '<|python_tag|>', '<|finetune_right_pad_id|>', '<|reserved_special_token_0|>', '<|reserved_special_token_250|>',
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<tool_call>', '</tool_call>', '<think>', '</think>', '<|fim_prefix|>',
  '<|vision_start|>', '<s>', '</s>', '<unk>', '[INST]', '[/INST]', '[AVAILABLE_TOOLS]', '[TOOL_CALLS]', '<pad>', '[control_8]',
  '<SPECIAL_10>', '<0x0A>', '▁', 'Ġ', 'Ċ'];
const partials = ['<|', '|>', '<|eot', 'eot_id|>', '<|im_', '<|begin_of_text', '<s', 's>', '</', '[INST', 'INST]', '<|end', '<tool_',
  '<|eot_id|', '|eot_id|>', '<<s>>', '<|<|eot_id|>|>', '<|EOT_ID|>', '< |eot_id| >'];
const spaces = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', ' \n ', '\t\t', '    \n', '\u00a0', '\u0085', '\u2028', '\u2029',
  '\u3000', '\u000b', '\u000c', '\u200b', '\ufeff', '\u2003', '\u180e', ' \t \n'];
const code = [
  'def f(x):\n    return x ** 2\n',
  'for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}',
  'const x = {"a": 1, \'b\': [2, 3]};',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); }',
  'SELECT * FROM users WHERE id = 7;',
  '<div class="x">&amp; &lt;tag&gt;</div>',
  'fn main() { let v: Vec<u8> = vec![0xff; 16]; }',
  '$ ls -la | grep "\\.cc$" && echo ok',
  '    if (a && b || !c) return -1;',
  'x = [i for i in range(10) if i % 2 == 0]',
  '// TODO: fix\n/* block */ return;',
  'https://example.org/path?q=1&r=%20#frag',
  'user@example.com',
  '{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}',
];
const combining = ['e\u0301', 'a\u0308', 'n\u0303', 'A\u030a', 'o\u0302\u0323', '\u1100\u1161\u11a8', 'क\u093c', 'i\u0307', '\u0301'];
const digits = () => {
  const n = 1 + int(12);
  let s = '';
  for (let i = 0; i < n; i++) s += String(int(10));
  return pick([s, s, s.replace(/(\d{3})/g, '$1,'), s + '.' + int(1000), '٣٤٥', '０１２３', '१२३', '๑๒๓', '-' + s, '1e' + int(99), '3.14159']);
};
const randomChar = () => {
  const r = random();
  if (r < 0.3) return range(0x20, 0x7e);
  if (r < 0.45) return range(0xa0, 0x24f);
  if (r < 0.55) return range(0x370, 0x52f);
  if (r < 0.65) return range(0x590, 0x6ff);
  if (r < 0.72) return range(0x900, 0xe7f);
  if (r < 0.82) return range(0x4e00, 0x9fff);
  if (r < 0.86) return range(0xac00, 0xd7a3);
  if (r < 0.9) return range(0x1f300, 0x1faff);
  if (r < 0.93) return range(0x0, 0x1f);
  if (r < 0.96) {
    let c = 0x80 + int(0xd800 - 0x80);
    return String.fromCodePoint(c);
  }
  if (r < 0.98) return range(0xe000, 0xfffd);
  return range(0x10000, 0x2ffff);
};

function fragment() {
  const r = random();
  if (r < 0.4) return pick(words[pick(scripts)]);
  if (r < 0.5) return pick(emoji);
  if (r < 0.58) return pick(specials);
  if (r < 0.63) return pick(partials);
  if (r < 0.7) return digits();
  if (r < 0.74) return pick(code);
  if (r < 0.78) return pick(combining);
  if (r < 0.85) return pick(['.', ',', '!', '?', '...', '—', '-', '"', "'", '(', ')', ':', ';', '«»', '“”', '’s', "'S", "'ll", "'RE", '/', '\\', '@', '#']);
  let s = '';
  const n = 1 + int(6);
  for (let i = 0; i < n; i++) s += randomChar();
  return s;
}

function sentence(maxParts) {
  const n = 1 + int(maxParts);
  let s = random() < 0.15 ? pick(spaces) : '';
  for (let i = 0; i < n; i++) {
    s += fragment();
    const r = random();
    if (r < 0.55) s += ' ';
    else if (r < 0.75) s += pick(spaces);
  }
  return s;
}

const corpus = [
  '', ' ', '  ', '\n', '\t', '\r\n', 'a', 'I', 'Hello world', ' Hello', 'Hello ', 'hello  world', '   leading', 'trailing   ',
  '<|begin_of_text|>', '<|begin_of_text|>Hello', 'Hello<|eot_id|>', '<s>', '<s> <s>', '</s>', '[INST] hi [/INST]',
  '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', 'The year 2024 has 366 days; 1234567890.',
  '\u0085', 'x  \u0085y', 'a\u0085\u0085b', '!\u0085', 'e\u0301', 'é', 'ſ', "IT'S", "it's", "I'LL", 'ﬁ', '\u0000', 'a\u0000b',
];
for (const group of Object.values(words)) corpus.push(group.join(' '));
for (const s of [...emoji, ...specials, ...partials, ...spaces, ...code, ...combining]) corpus.push(s, ' ' + s, s + ' ' + s, 'x' + s + 'y');
// Whitespace and digit runs of every length up to 40.
for (let n = 1; n <= 40; n++) {
  for (const ws of [' ', '\t', '\n', '\r\n', '\u3000', ' \n']) corpus.push('a' + ws.repeat(n) + 'b', ws.repeat(n), ws.repeat(n) + 'z');
  corpus.push('9'.repeat(n), 'x' + '1234567890'.slice(0, n % 10 + 1).repeat(1 + (n >> 2)), '٣'.repeat(n));
}
// Long inputs: thousands of characters.
for (let i = 0; i < 120; i++) {
  let s = '';
  const target = 1000 + int(6000);
  while (s.length < target) s += sentence(20);
  corpus.push(s);
}
// Repeated characters (long BPE words).
for (const c of ['a', 'é', '中', '🙂', '-', '=', '_', '.', ' ', '0', 'ab', 'Ġ', '▁']) corpus.push(c.repeat(50 + int(500)));
while (corpus.length < count) corpus.push(sentence(random() < 0.1 ? 40 : 8));

writeFileSync(out, JSON.stringify(corpus));
console.error(`make_corpus: ${corpus.length} strings, ${corpus.reduce((n, s) => n + s.length, 0)} UTF-16 units -> ${out}`);
