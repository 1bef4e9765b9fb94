// Starts and stops the broker under test for the JS compatibility suite.
//
// The broker comes from AERIE_BROKER, exactly as in tests/wire/interop.h: unset or
// "nats-server" runs the reference server ($NATS_SERVER, else /usr/sbin/nats-server, else
// nats-server on PATH); "aerie-leaf" runs $AERIE_BUILD_DIR/aerie-leaf. Both get the same
// flags: -a 127.0.0.1 -p PORT [-c CONFIG]. Ports come from the kernel (listen on 0), and the
// process is stopped by its PID only.
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync, openSync, closeSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export function brokerName() {
  const b = process.env.AERIE_BROKER;
  return !b || b === "nats-server" ? "nats-server" : "aerie-leaf";
}

function brokerBinary() {
  if (brokerName() === "nats-server") {
    if (process.env.NATS_SERVER) return process.env.NATS_SERVER;
    try {
      accessSync("/usr/sbin/nats-server", constants.X_OK);
      return "/usr/sbin/nats-server";
    } catch {
      return "nats-server";
    }
  }
  const dir = process.env.AERIE_BUILD_DIR;
  if (!dir) throw new Error("AERIE_BROKER=aerie-leaf needs AERIE_BUILD_DIR (the CMake build directory)");
  return path.join(dir, "aerie-leaf");
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Broker {
  /** @param {{config?: string}} opts */
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = mkdtempSync(path.join(os.tmpdir(), "aerie-js-"));
    this.logPath = path.join(this.dir, "broker.log");
    this.port = 0;
    this.child = null;
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the broker (on a new free port the first time, the same port after stop()). */
  async start() {
    if (!this.port) this.port = await freePort();
    const args = ["-a", "127.0.0.1", "-p", String(this.port)];
    if (this.opts.config) {
      const conf = path.join(this.dir, "broker.conf");
      writeFileSync(conf, this.opts.config + "\n");
      args.push("-c", conf);
    }
    const log = openSync(this.logPath, "a");
    const child = spawn(brokerBinary(), args, { stdio: ["ignore", log, log] });
    closeSync(log);
    this.child = child;
    this.exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.once("error", () => {});
    const deadline = Date.now() + 10000;
    while (!(await canConnect(this.port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`${brokerName()} did not start on ${this.port}: ${this.logTail()}`);
      }
      await sleep(20);
    }
  }

  logTail() {
    try {
      return readFileSync(this.logPath, "utf8").slice(-500);
    } catch {
      return "(no log)";
    }
  }

  /** SIGTERM, then SIGKILL after timeoutMs; resolves to {code, signal}. */
  async stop(timeoutMs = 5000) {
    const child = this.child;
    if (!child) return null;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, "SIGTERM");
      const timer = setTimeout(() => {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {}
      }, timeoutMs);
      const r = await this.exit;
      clearTimeout(timer);
      return r;
    }
    return this.exit;
  }

  /** Stops the broker and removes its scratch directory. */
  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls cond() every 10 ms until it is true or timeoutMs passes. */
export async function waitFor(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export { sleep };
