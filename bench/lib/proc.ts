import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, so children resolve `floodgate` through its tsconfig paths. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const live = new Set<ChildProcess>();

/** Builds this checkout's dist/ (`npm run build`); throws with the build's output if it fails. */
export function buildDist(): void {
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building dist/ failed:\n${built.stdout}${built.stderr}`);
}

/**
 * Has every child started from now on load floodgate as users do, from a checkout's dist/:
 * children inherit the environment, and tsx reads its tsconfig path from it (the bench one drops
 * the source paths, so `floodgate` resolves through the package's exports).
 */
export function childrenLoadDist(): void {
  process.env.TSX_TSCONFIG_PATH = resolve(ROOT, 'bench', 'tsconfig.dist.json');
}

/** A `--baseline` checkout, resolved, once it is known to have its dist/ built. */
export function checkedBaseline(dir: string): string {
  const root = resolve(dir);
  if (!existsSync(resolve(root, 'dist', 'index.js'))) {
    throw new Error(`--baseline must be a checkout with dist/ built, got ${JSON.stringify(dir)}`);
  }
  return root;
}

/**
 * Runs a bench script's `main`, then exits with every child it started stopped: with 1 when
 * `main` resolves to a positive count of failures or rejects (after `report` has the error), else
 * with 0. A child left running would hold a port or a core after the script is done.
 */
export function runScript(
  main: () => Promise<unknown>,
  report: (error: unknown) => void = (error) => console.error(error),
): void {
  main().then(
    (failures) => {
      stopAllChildren();
      process.exit(typeof failures === 'number' && failures > 0 ? 1 : 0);
    },
    (error: unknown) => {
      report(error);
      stopAllChildren();
      process.exit(1);
    },
  );
}

/** Kills every child this run started that is still alive, by pid. */
export function stopAllChildren(): void {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone between the check and the kill.
      }
    }
  }
  live.clear();
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Whatever ends the run (an error, Ctrl-C, a CI timeout), no server or load generator outlives it.
  process.on('exit', stopAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      stopAllChildren();
      process.exit(130);
    });
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canPin = availableParallelism() >= 2 && hasCommand('taskset');

/**
 * CPU placement: servers (HTTP app, redis-server under test) on one core, the load generator on
 * another, so they never steal each other's time slices. Undefined when the machine cannot pin.
 */
export const CPU = {
  server: canPin ? 0 : undefined,
  load: canPin ? 1 : undefined,
  pinned: canPin,
} as const;

/** Prefixes `taskset -c <cpu>` when pinning is possible. */
export function pinned(cpu: number | undefined, command: string, args: readonly string[]): [string, string[]] {
  if (cpu === undefined) return [command, [...args]];
  return ['taskset', ['-c', String(cpu), command, ...args]];
}

/** `node --import tsx <script>` as a command line, from the repository root. */
export function nodeScript(
  script: string,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
): [string, string[]] {
  return [process.execPath, [...nodeFlags, '--import', 'tsx', resolve(ROOT, script), ...args]];
}

/**
 * Starts a long-lived child (a server, a worker); tracked so it is killed when the run ends.
 * With `ipc`, the child gets Node's IPC channel (it survives taskset's exec).
 */
export function startChild(command: string, args: readonly string[], cpu?: number, ipc = false): ChildProcess {
  hookExit();
  const [cmd, argv] = pinned(cpu, command, args);
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // Keep draining both pipes for the child's whole life, so a chatty server never blocks on a full pipe.
  child.stdout?.on('data', () => {});
  child.stderr?.on('data', () => {});
  return child;
}

/** Stops a child by its pid: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Exited in the meantime.
      }
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, killed (by pid) if it runs past `timeoutMs`. */
export function run(command: string, args: readonly string[], timeoutMs: number, cpu?: number): Promise<RunResult> {
  hookExit();
  const [cmd, argv] = pinned(cpu, command, args);
  return new Promise((done, fail) => {
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Exited in the meantime.
        }
      }
      stderr += `\n[bench] killed after ${timeoutMs} ms`;
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      fail(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      done({ code, stdout, stderr });
    });
  });
}

/**
 * Runs a bench worker (`node --import tsx bench/…`) and returns the JSON object it prints as its
 * last stdout line. Throws with the worker's stderr when it fails.
 */
export async function runWorker<T>(
  script: string,
  args: readonly string[],
  options: { cpu?: number; timeoutMs: number; nodeFlags?: readonly string[] },
): Promise<T> {
  const [cmd, argv] = nodeScript(script, args, options.nodeFlags);
  const result = await run(cmd, argv, options.timeoutMs, options.cpu);
  const last = result.stdout.trim().split('\n').pop() ?? '';
  if (result.code !== 0 || !last.startsWith('{')) {
    throw new Error(`${script} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim().slice(-2000)}`);
  }
  return JSON.parse(last) as T;
}

/** Whether a command is on PATH. */
export { hasCommand };

/** Waits until `child` prints a line matching `pattern` on stdout, or fails after `timeoutMs`. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((done, fail) => {
    let out = '';
    let err = '';
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = out.match(pattern);
      if (match !== null) finish(undefined, match);
    };
    const onErr = (chunk: Buffer): void => {
      err += chunk.toString();
    };
    const onExit = (code: number | null): void =>
      finish(new Error(`exited (code ${code}) before ready: ${err.trim().slice(-1500)}`));
    const timer = setTimeout(
      () => finish(new Error(`not ready after ${timeoutMs} ms: ${err.trim().slice(-1500)}`)),
      timeoutMs,
    );
    function finish(error: Error | undefined, match?: RegExpMatchArray): void {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (error !== undefined) fail(error);
      else done(match as RegExpMatchArray);
    }
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

/** The installed version of a package in the repository's node_modules (`.`: the repository's own). */
export function packageVersion(name: string): string {
  try {
    const file = name === '.' ? resolve(ROOT, 'package.json') : resolve(ROOT, 'node_modules', name, 'package.json');
    const json = JSON.parse(readFileSync(file, 'utf8')) as {
      version?: string;
    };
    return json.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** Moves a running process (all its threads) to `cpu`, when pinning is possible. */
export async function repin(pid: number, cpu: number | undefined): Promise<void> {
  if (cpu === undefined) return;
  const r = await run('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], 5000);
  if (r.code !== 0) throw new Error(`taskset -p ${pid}: ${r.stderr}`);
}
