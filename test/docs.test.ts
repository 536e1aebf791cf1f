/**
 * Every ```ts, ```typescript and ```js block in README.md and docs/*.md is type-checked (one `tsc`
 * run for all of them) and, unless its first line is `// fragment`, run on its own:
 *
 * - a block that calls `listen(` is started with `PORT` set to a free port, must answer
 *   `GET /` with a status below 500, and is then stopped by pid; when an ```http block of a
 *   limited response follows it, `GET /` is sent until it is limited and that response must
 *   have the status, every header shown and the body;
 * - any other block must exit with code 0.
 *
 * Blocks get `REDIS_URL` of a `redis-server` this test starts. They are written to `.docs-check/`
 * inside the repository, so `floodgate` imports resolve through tsconfig paths, as in the tests.
 */
import { strictEqual } from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, type RedisServer, startRedis } from './helpers/redis.js';

const root = join(import.meta.dirname, '..');
const dir = join(root, '.docs-check');
const RUN_TIMEOUT_MS = 15_000;

// Blocks still running when this process exits (a failed or interrupted run) are killed by pid.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // It has exited on its own meanwhile.
    }
  }
});

interface Block {
  /** `README.md:41`: the file and the line of the opening fence. */
  readonly where: string;
  readonly file: string;
  readonly code: string;
  readonly fragment: boolean;
  readonly listens: boolean;
  /** The limited response the docs show after a server block (an ```http block), if any. */
  readonly limited?: LimitedResponse;
}

interface LimitedResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Parses an ```http block: a status line, `name: value` lines, a blank line, the body. */
function parseHttp(lines: readonly string[]): LimitedResponse | undefined {
  const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const headers = new Map<string, string>();
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const [name, ...value] = (lines[i] ?? '').split(':');
    headers.set((name ?? '').trim().toLowerCase(), value.join(':').trim());
  }
  return {
    status: Number(status[1]),
    headers,
    body: lines
      .slice(i + 1)
      .join('\n')
      .trim(),
  };
}

/** The code blocks of one Markdown file that the docs promise to be TypeScript or JavaScript. */
export function extractBlocks(name: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|js)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    const code = body.join('\n');
    // The next fenced block, when it is an ```http response before any other code block.
    let limited: LimitedResponse | undefined;
    for (let j = i + 1; j < lines.length; j++) {
      if (/^```http\s*$/.test(lines[j] ?? '')) {
        const http: string[] = [];
        for (j++; j < lines.length && !/^```\s*$/.test(lines[j] ?? ''); j++) http.push(lines[j] ?? '');
        limited = parseHttp(http);
        break;
      }
      if (/^```/.test(lines[j] ?? '')) break;
    }
    const slug = `${name.replace(/[^a-z0-9]+/gi, '-')}-${start + 1}`.toLowerCase();
    blocks.push({
      where: `${name}:${start + 1}`,
      file: `${slug}.ts`,
      code,
      fragment: /^\s*\/\/ fragment\b/.test(body[0] ?? ''),
      listens: /\blisten\(/.test(code),
      ...(limited === undefined ? {} : { limited }),
    });
  }
  return blocks;
}

function allBlocks(): Block[] {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
    f.endsWith('.md'),
  );
  return files.flatMap((f) => extractBlocks(f, readFileSync(join(root, f), 'utf8')));
}

const blocks = allBlocks();

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(port: number): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

/** Sends `GET /` until a response is limited, and checks it against the one the docs show. */
async function checkLimited(port: number, want: LimitedResponse): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const answer = await get(port);
    if (answer === undefined) throw new Error('the server stopped answering');
    if (answer.status < 400) continue;
    strictEqual(answer.status, want.status, 'status of the limited response');
    for (const [name, value] of want.headers) strictEqual(answer.headers[name], value, `header ${name}`);
    strictEqual(answer.body.trim(), want.body, 'body of the limited response');
    return;
  }
  throw new Error('100 requests and none was limited');
}

/** Polls until `GET /` on the port answers, and returns its status. */
async function firstAnswer(port: number, child: ChildProcess, output: () => string): Promise<number> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening:\n${output()}`);
    const answer = await get(port);
    if (answer !== undefined) return answer.status;
    if (Date.now() > deadline) throw new Error(`no answer on port ${port} within ${RUN_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runBlock(block: Block, redisUrl: string): Promise<void> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(dir, block.file)], {
    cwd: root,
    env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c;
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    if (block.listens) {
      const status = await firstAnswer(port, child, () => out);
      if (status >= 500) throw new Error(`GET / answered ${status}:\n${out}`);
      if (block.limited !== undefined) await checkLimited(port, block.limited);
    } else {
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), RUN_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (code !== 0) throw new Error(`${code === 'timeout' ? 'did not exit' : `exited with ${code}`}:\n${out}`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
    }
    await exited;
  }
}

describe('docs code blocks', () => {
  let redis: RedisServer | undefined;

  before(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const block of blocks) {
      // `export {}` makes every block a module, so top-level await and local names are its own.
      writeFileSync(join(dir, block.file), `${block.code}\nexport {};\n`);
    }
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: '../tsconfig.json', include: ['./*.ts'], compilerOptions: { noEmit: true } }),
    );
    if (blocks.some((b) => !b.fragment && b.code.includes('REDIS_URL'))) redis = await startRedis();
  });

  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('there are blocks to check', () => {
    strictEqual(blocks.length > 0, true);
  });

  test('every block type-checks (one tsc run)', async () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root });
    } catch (error) {
      const output = String((error as { stdout?: string }).stdout ?? error);
      // Name each failing block by its Markdown file and line, not the temporary file.
      const named = output.replace(/\.docs-check\/([a-z0-9-]+)\.ts/g, (whole, slug: string) => {
        const block = blocks.find((b) => b.file === `${slug}.ts`);
        return block ? `${block.where} (block)` : whole;
      });
      throw new Error(`code blocks do not type-check:\n${named}`);
    }
  });

  for (const block of blocks) {
    if (block.fragment) continue;
    const serves = block.limited !== undefined ? ' (serves GET /, then the limited response shown)' : ' (serves GET /)';
    test(`${block.where} runs as pasted${block.listens ? serves : ''}`, async () => {
      await runBlock(block, redis?.url ?? 'redis://127.0.0.1:1');
    });
  }
});
