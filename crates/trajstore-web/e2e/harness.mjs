// Shared set-up of the browser tests: a real `trajstore serve` over generated data, and
// Debian's Chromium driven by playwright-core (no browser is ever downloaded).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BIN =
  process.env.TRAJSTORE_BIN ||
  join(process.env.CARGO_TARGET_DIR || join(homedir(), '.cache/trajstore-target'), 'debug/trajstore');
export const ARTIFACTS =
  process.env.TRAJSTORE_E2E_ARTIFACTS ||
  join(process.env.CARGO_TARGET_DIR || join(homedir(), '.cache/trajstore-target'), 'e2e-artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** A trajectory of `steps` steps and about `bytes` bytes: markdown, tool calls, big outputs. */
export function longTrajectory(id, steps = 320, bytes = 5_000_000) {
  const out = [
    { role: 'system', content: 'You are a careful software agent.' },
    { role: 'user', content: 'Fix the failing test in the parser.' },
  ];
  const toolBytes = Math.floor(bytes / (steps / 2));
  for (let i = 2; i < steps; i += 2) {
    out.push({
      role: 'assistant',
      content: `Step ${i}: I will look at **file ${i}**.\n\n\`\`\`python\nprint(${i})\n\`\`\``,
      tool_calls: [{ id: `call-${i}`, name: 'bash', arguments: { command: `cat src/file_${i}.py` } }],
      reward: i % 20 === 0 ? 0.5 : undefined,
    });
    const line = `line of output ${i} `.padEnd(79, '.') + '\n';
    out.push({
      role: 'tool',
      tool_call_id: `call-${i}`,
      name: 'bash',
      content: line.repeat(Math.max(1, Math.floor(toolBytes / 80))),
    });
  }
  return {
    trajectory_id: id,
    data_id: 'long-task',
    agent_name: 'e2e-agent',
    training_id: 'e2e-run',
    epoch_id: 1,
    task: { question: 'A very long trajectory' },
    steps: out.slice(0, steps),
    reward: 1,
    is_success: true,
    termination_reason: 'success',
  };
}

export async function startServer({ trajectories = 1200, serveArgs = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'trajstore-e2e-'));
  const db = join(dir, 'db');
  execFileSync(BIN, ['demo', '--db', db, '--trajectories', String(trajectories), '--no-serve'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const longFile = join(dir, 'long.jsonl');
  writeFileSync(longFile, JSON.stringify(longTrajectory('long-trajectory-1')) + '\n');
  execFileSync(BIN, ['import', longFile, '--db', db], { stdio: ['ignore', 'ignore', 'inherit'] });
  const proc = spawn(BIN, ['serve', '--db', db, '--host', '127.0.0.1', '--port', '0', ...serveArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const base = await new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 30000);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/on (http:\/\/[\d.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
  return {
    base,
    dir,
    db,
    stop: () => {
      proc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Playwright's launch errors carry terminal colour codes.
// eslint-disable-next-line no-control-regex
const ANSI_COLOUR = /\x1b\[[0-9;]*m/g;

const BROWSER_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts headless Chromium. One start in CI once ended in a SIGSEGV of the browser
 * process 30 ms in, which failed every test of the file (they share one browser), while
 * the same package started fine here and in a fresh Debian chroot. So a failed start is
 * tried again, then once more without Debian's wrapper script and its zygote process,
 * then in a single process, and if all fail the error says what the machine looked like
 * (here an address-space or open-files limit makes it die of SIGTRAP, not SIGSEGV).
 */
export async function launchBrowser() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const direct = '/usr/lib/chromium/chromium';
  const unwrapped = CHROMIUM === '/usr/bin/chromium' && existsSync(direct) ? direct : CHROMIUM;
  const attempts = [
    { executablePath: CHROMIUM, args: BROWSER_ARGS },
    { executablePath: CHROMIUM, args: BROWSER_ARGS },
    { executablePath: unwrapped, args: [...BROWSER_ARGS, '--no-zygote'] },
    // Last resort: browser and renderer in one process (no fork at all).
    { executablePath: unwrapped, args: [...BROWSER_ARGS, '--no-zygote', '--single-process'] },
  ];
  const failures = [];
  for (const [i, attempt] of attempts.entries()) {
    try {
      // Playwright gives the browser a fresh, empty profile of its own.
      const browser = await chromium.launch({ headless: true, ...attempt });
      if (i > 0)
        console.log(
          `# Chromium started on attempt ${i + 1} (${attempt.executablePath} ${attempt.args.slice(BROWSER_ARGS.length).join(' ')})`,
        );
      return browser;
    } catch (e) {
      failures.push(
        `attempt ${i + 1} (${attempt.executablePath}): ${String(e.message)
          .replace(ANSI_COLOUR, '')
          .split('\n')
          .filter((l) => /signal=|exitCode=|error/i.test(l) && !/dbus/.test(l))
          .slice(0, 6)
          .join(' | ')}`,
      );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw new Error(`Chromium did not start:\n${failures.join('\n')}\n${machineReport()}`);
}

/** What the machine looked like when Chromium would not start. */
function machineReport() {
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (e) {
      return `${cmd}: ${e.message.split('\n')[0]}`;
    }
  };
  return [
    run(CHROMIUM, ['--version']),
    run('df', ['-h', tmpdir(), '/dev/shm']),
    run('free', ['-m']),
    run('bash', ['-c', 'ulimit -a | grep -Ei "virtual|open files|processes"; true']),
    run('sh', [
      '-c',
      `${CHROMIUM} --headless --no-sandbox --disable-gpu --disable-background-networking --dump-dom about:blank 2>&1 | grep -v dbus | tail -5; true`,
    ]),
  ].join('\n');
}

/** Saves a screenshot of the page as a test artifact. */
export async function snap(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

export async function apiJson(base, path) {
  const r = await fetch(base + path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}
