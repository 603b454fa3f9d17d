// hub_client.mjs - drives elvesd with the real @huggingface/hub client:
// createRepo, uploadFiles (inline + LFS), listFiles, fileDownloadInfo,
// downloadFile whole and by ranges (SHA-256 compared), a second commit, and
// the old commit still downloadable; the Hub's repository API: createBranch
// (and its 409), a download at the branch, listCommits, countCommits,
// deleteBranch, listModels with a search.  Then transformers.js loads a
// config and a tokenizer from the same repo (env.remoteHost = elvesd), and
// deleteRepo removes it (repoExists false).
//
// usage: node hub_client.mjs BASE_URL TOKEN BIG_FILE
// Exits non-zero with a message on the first mismatch.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  createRepo, uploadFiles, uploadFile, listFiles, fileDownloadInfo,
  downloadFile, whoAmI, createBranch, deleteBranch, listCommits, countCommits,
  listModels, deleteRepo, repoExists,
} from "@huggingface/hub";

const [hubUrl, accessToken, bigPath] = process.argv.slice(2);
const repo = { type: "model", name: `acme/js-${process.pid}` };
const sha = (buf) => createHash("sha256").update(Buffer.from(buf)).digest("hex");
let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks++;
}

const big = readFileSync(bigPath);
const config = Buffer.from(JSON.stringify({ model_type: "bert", hidden_size: 8 }));
const tokenizer = Buffer.from(JSON.stringify({
  version: "1.0", truncation: null, padding: null,
  added_tokens: [{ id: 0, content: "[UNK]", single_word: false, lstrip: false,
    rstrip: false, normalized: false, special: true }],
  normalizer: null, pre_tokenizer: { type: "Whitespace" },
  post_processor: null, decoder: null,
  model: { type: "WordLevel", vocab: { "[UNK]": 0, hello: 1, world: 2 }, unk_token: "[UNK]" },
}));
const tokConfig = Buffer.from(JSON.stringify({ tokenizer_class: "PreTrainedTokenizer", unk_token: "[UNK]" }));
const files = {
  "config.json": config,
  "tokenizer.json": tokenizer,
  "tokenizer_config.json": tokConfig,
  "weights/model.safetensors": big,
};

const who = await whoAmI({ accessToken, hubUrl });
check(who.name === "ci", `whoAmI name ${who.name}`);

await createRepo({ repo, accessToken, hubUrl });
await uploadFiles({
  repo, accessToken, hubUrl, useXet: false,
  files: Object.entries(files).map(([path, buf]) => ({ path, content: new Blob([buf]) })),
});

const listed = {};
for await (const f of listFiles({ repo, recursive: true, hubUrl, accessToken })) listed[f.path] = f;
for (const [path, buf] of Object.entries(files)) {
  check(listed[path] && listed[path].size === buf.length, `listFiles ${path}`);
}
check(listed["weights"] && listed["weights"].type === "directory", "listFiles directory");
check(listed["weights/model.safetensors"].lfs?.oid === sha(big), "lfs oid is the sha256");

const info = await fileDownloadInfo({ repo, path: "weights/model.safetensors", hubUrl, accessToken });
check(info && info.size === big.length, `fileDownloadInfo size ${info?.size}`);
check(info.etag.includes(sha(big)), `fileDownloadInfo etag ${info.etag}`);
check((await fileDownloadInfo({ repo, path: "nope.bin", hubUrl, accessToken })) === null,
  "fileDownloadInfo of a missing file is null");

for (const [path, buf] of Object.entries(files)) {
  const blob = await downloadFile({ repo, path, hubUrl, accessToken });
  check(sha(await blob.arrayBuffer()) === sha(buf), `downloadFile ${path}`);
}
const blob = await downloadFile({ repo, path: "weights/model.safetensors", hubUrl, accessToken });
for (let i = 0; i < 20; i++) {
  const a = Math.floor(Math.random() * big.length);
  const b = Math.min(big.length, a + 1 + Math.floor(Math.random() * 300000));
  const part = await blob.slice(a, b).arrayBuffer();
  check(sha(part) === sha(big.subarray(a, b)), `range ${a}-${b}`);
}

// a second commit changes config.json; the first commit keeps the old one
const before = (await (await fetch(`${hubUrl}/api/models/${repo.name}`)).json()).sha;
const config2 = Buffer.from(JSON.stringify({ model_type: "bert", hidden_size: 16 }));
await uploadFile({ repo, accessToken, hubUrl, file: { path: "config.json", content: new Blob([config2]) } });
const now = await downloadFile({ repo, path: "config.json", hubUrl, accessToken });
check(sha(await now.arrayBuffer()) === sha(config2), "config.json on main after the second commit");
const old = await downloadFile({ repo, path: "config.json", revision: before, hubUrl, accessToken });
check(sha(await old.arrayBuffer()) === sha(config), "config.json at the first commit");

// branches, history and listings as @huggingface/hub calls them
await createBranch({ repo, branch: "dev", revision: before, hubUrl, accessToken });
const atDev = await downloadFile({ repo, path: "config.json", revision: "dev", hubUrl, accessToken });
check(sha(await atDev.arrayBuffer()) === sha(config), "config.json on a branch made at the first commit");
let status = 0;
try {
  await createBranch({ repo, branch: "dev", hubUrl, accessToken });
} catch (e) {
  status = e.statusCode;
}
check(status === 409, `createBranch of an existing branch: ${status}`);
const commits = [];
for await (const c of listCommits({ repo, hubUrl, accessToken, batchSize: 1 })) commits.push(c);
check(commits.length === 3 && commits[1].oid === before && commits[2].title === "Initial commit",
  `listCommits (paged by 1): ${JSON.stringify(commits.map((c) => [c.oid, c.title]))}`);
check(commits.every((c) => !Number.isNaN(c.date.getTime()) && Array.isArray(c.authors)), "listCommits dates");
const counted = await countCommits({ repo, hubUrl, accessToken });
check(counted === 3, `countCommits ${counted}`);
await deleteBranch({ repo, branch: "dev", hubUrl, accessToken });
const refs = await (await fetch(`${hubUrl}/api/models/${repo.name}/refs`)).json();
check(refs.branches.map((b) => b.name).join() === "main", `branches after deleteBranch: ${JSON.stringify(refs)}`);
const models = [];
for await (const m of listModels({ search: { owner: "acme", query: `js-${process.pid}` }, hubUrl, accessToken, limit: 5 })) {
  models.push(m);
}
check(models.length === 1 && models[0].name === repo.name && models[0].private === false &&
  !Number.isNaN(models[0].updatedAt.getTime()), `listModels: ${JSON.stringify(models)}`);

// transformers.js, which sends no token to a custom host
let tjs = "skipped";
try {
  const t = await import("@huggingface/transformers");
  t.env.remoteHost = `${hubUrl}/`;
  t.env.allowLocalModels = false;
  t.env.useBrowserCache = false;
  t.env.useFSCache = false;
  const cfg = await t.AutoConfig.from_pretrained(repo.name);
  check(cfg.hidden_size === 16, `transformers.js config hidden_size ${cfg.hidden_size}`);
  const tok = await t.AutoTokenizer.from_pretrained(repo.name);
  const ids = Array.from(tok.encode("hello world hello"));
  check(JSON.stringify(ids) === "[1,2,1]", `transformers.js tokenizer ids ${ids}`);
  tjs = "ok";
} catch (e) {
  if (e.code === "ERR_MODULE_NOT_FOUND") tjs = `skipped (${e.message.split("\n")[0]})`;
  else throw e;
}
await deleteRepo({ repo, hubUrl, accessToken });
check(!(await repoExists({ repo, hubUrl, accessToken })), "repoExists after deleteRepo");
console.log(`ok: ${checks} checks; transformers.js ${tjs}`);
